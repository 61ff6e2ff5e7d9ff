"""Each platform's view of a payload, as its app shows it on a phone: one module per
platform, each with ``render(payload) -> str`` (safe HTML, made only with
``erralert.inbox.markup``); ``parts`` holds what several share. ``erralert.inbox.show``
puts a view in its card.
"""
