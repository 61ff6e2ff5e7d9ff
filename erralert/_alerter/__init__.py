"""The alerter: builds the pipeline from its options and runs each event through it.

``alerter.py`` holds :class:`Alerter` (capture, routing decision, grouping, rendering,
handing to delivery); ``options.py`` checks the options and builds the stages;
``context.py`` turns what the app gives (a request, a log call) into event context;
``decisions.py`` caches routing decisions and counts what was silenced; ``digests.py``
turns ended windows into digest notices; ``recording.py`` is the seam under
``erralert.testing``: a fresh window store and a recording sink per covered alerter.
"""
