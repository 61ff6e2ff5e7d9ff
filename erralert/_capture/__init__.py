"""The capture stage: what the application threw or logged becomes an ``Event``.

Building one (``events``) runs while the application is failing, on whatever it threw,
under a time budget (``budget``); the exception chain (``chain``), its frames
(``live_frames``), the traceback text (``traceback_text``), the text of the application's
objects (``safe_text``) and its tags and extra (``tags_and_extra``) are each bounded and
never raise. ``request`` reads what the web framework passed, ``trace`` the active
OpenTelemetry span, ``release`` finds the running version, and ``scrub`` (with
``credentials``) filters secrets out of the event before it leaves the process.
"""
