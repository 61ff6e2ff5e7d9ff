"""Rendering: a notice into one channel's message (title, body, payload) with Jinja templates.

``renderer`` picks and runs the template; ``sandbox`` is the Jinja environment templates run
in, with erralert's ``filters``, every output escaped for the dialect of the render in
progress (``escaping``, ``mode``) and bounded by the render's ``allowance`` (``estimates``
says what a call will build before it runs). ``builtin_template`` is the fallback when a
template fails; ``locale`` and ``timezone`` read the language and zone the user asked for;
``stack`` orders the frames a message shows; ``bytecode_cache`` keeps compiled templates once
for the process.
"""
