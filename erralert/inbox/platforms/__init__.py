"""What each chat platform accepts, and what it answers — the rules the inbox plays by.

One module per platform, with one class each: the rates it enforces per hook, the checks
its service makes on a request (structure, limits, keyword) and its answers in the
service's own shapes: success, refusal and "too fast". Each signing platform checks its
signature with ``erralert.inbox.signatures`` (written apart from the channels' signing
code); the order of the checks is ``erralert.inbox.receive``'s. ``base`` holds what they
share, ``registry`` lists them by name.

Nothing here comes from erralert's sending side: the imitation checks that code, so its
numbers and words are written from the platforms' documentation (see the project's
chat-platforms reference); the ones marked (unverified) are the best public evidence.
"""
