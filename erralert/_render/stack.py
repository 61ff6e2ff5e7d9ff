"""The stack as a message shows it: the application's frames first, the library folded.

``display_stack(event)`` orders and folds the raised exception's frames for a person who
reads one alert on a phone: the culprit (the innermost frame of the application's own code)
with its code line, the application's other frames, where a library raised it, and one line
that counts everything else. Templates get it as ``stack``; this module decides nothing about
markup.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from erralert._core.event import Event, Frame

__all__ = ["MAX_APP_FRAMES", "StackLine", "display_stack"]

MAX_APP_FRAMES = 5  # application frames shown, the culprit included

StackLineKind = Literal["culprit", "app", "more_app", "raised", "library"]


@dataclass(frozen=True, slots=True)
class StackLine:
    """One line of the stack a message shows.

    ``kind``:

    - ``"culprit"``: the innermost in-app frame (``event.culprit_frame``), shown with its
      ``frame.context_line``; the innermost frame when no frame is in-app;
    - ``"app"``: another in-app frame, innermost first;
    - ``"more_app"``: ``count`` in-app frames not listed; ``frame`` is the innermost of them;
    - ``"raised"``: where a library raised it, below the culprit
      (``json/decoder.py:355 in raw_decode``);
    - ``"library"``: every other frame, ``count`` of them, folded into one line;
      ``packages`` names their top-level packages (``"starlette"``, ``"json"``) in the
      order the stack reaches them; ``frame`` is the innermost of them.
    """

    kind: StackLineKind
    frame: Frame
    count: int = 1
    packages: tuple[str, ...] = ()


def display_stack(event: Event, max_app: int = MAX_APP_FRAMES) -> tuple[StackLine, ...]:
    """The lines of ``event``'s stack in the order a message shows them: the culprit, the
    application's other frames (at most ``max_app`` lines with the culprit, which is always
    shown, then one ``"more_app"`` line), where a library raised it, then the other frames
    folded into one ``"library"`` line. ``()`` for an event without frames (a message).
    Pure: no I/O, the event's data only.

    A Starlette view that called ``json.loads`` on bad input::

        culprit   shop/views.py:12 in checkout      order = json.loads(body)
        raised    json/decoder.py:355 in raw_decode
        library   14 frames: uvicorn, starlette, json
    """
    frames = event.frames
    if not frames:
        return ()
    culprit = event.culprit_frame
    at = _index_of(frames, culprit)
    lines = [StackLine("culprit", frames[at])]

    others = [f for f in reversed(frames[:at]) if f.in_app]
    room = max(max_app - 1, 0)
    lines.extend(StackLine("app", f) for f in others[:room])
    if len(others) > room:
        lines.append(StackLine("more_app", others[room], count=len(others) - room))

    last = len(frames) - 1
    if at < last:  # the culprit called on, and a library raised it
        lines.append(StackLine("raised", frames[last]))

    # by position: a recursion repeats the same (cached) Frame object
    shown = {at, last}
    folded = [f for n, f in enumerate(frames) if not f.in_app and n not in shown]
    if folded:
        packages = tuple(dict.fromkeys(_package(f) for f in folded))
        lines.append(StackLine("library", folded[-1], count=len(folded), packages=packages))
    return tuple(lines)


def _index_of(frames: tuple[Frame, ...], frame: Frame | None) -> int:
    """Where ``frame`` (an item of ``frames``) is, the innermost occurrence: a recursion
    repeats the same Frame object, and the culprit is the innermost one."""
    for n in range(len(frames) - 1, -1, -1):
        if frames[n] is frame:
            return n
    return len(frames) - 1


def _package(frame: Frame) -> str:
    """The top-level package (or stdlib module) a library frame's code belongs to."""
    module = frame.module
    if module and module != "__main__" and not module.startswith("<"):
        return module.partition(".")[0]
    # a library run as a program (``python -m uvicorn``): its file names its package
    first = frame.filename.replace("\\", "/").lstrip("/").partition("/")[0]
    return first.removesuffix(".py") or frame.filename
