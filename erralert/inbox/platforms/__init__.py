"""The inbox's imitation of each chat platform: what it accepts, what it answers, and how
its app shows a message — one module per platform, all of it there.

A platform's module holds one class (Feishu's two: Feishu and Lark) with: its name and the
page's label for it; the paths its service takes messages at and an example one; the rates
it enforces per hook, the checks its service makes on a request (structure, limits,
keyword) and its answers in the service's own shapes: success, refusal and "too fast"; the
title a phone's notification shows; its markup; and its view of a payload, as its app
shows it on a phone (safe HTML, made only with ``erralert.inbox.markup``). Each signing
platform checks its signature with ``erralert.inbox.signatures`` (written apart from the
channels' signing code); the order of the checks is ``erralert.inbox.receive``'s. ``base``
holds what they share, ``parts`` what several views share, ``registry`` finds them.

Nothing here comes from erralert's sending side: the imitation checks that code, so its
numbers and words are written from the platforms' documentation (see the project's
chat-platforms reference); the ones marked (unverified) are the best public evidence.
"""
