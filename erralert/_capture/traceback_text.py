"""The traceback text of an event, printed from its data the way Python prints one."""

from __future__ import annotations

from collections.abc import Sequence

from erralert._capture.live_frames import FRAME_CACHE_MAX, HEAD_FRAMES
from erralert._core.event import ExceptionInfo, Frame

__all__ = ["format_traceback"]


_CAUSE_MESSAGE = "The above exception was the direct cause of the following exception:"
_CONTEXT_MESSAGE = "During handling of the above exception, another exception occurred:"


class _Printer:
    """Python's ``traceback.format_exception`` layout (chains, exception groups), from the
    event's data instead of live objects, without the position markers (``~~~^^^``).

    No marker lines, on every Python: the text is read in a chat message, often on a phone,
    where each marker line costs a line of the platform's length budget (frames cut sooner)
    and wraps into noise at narrow widths, while the source line above it already shows
    what ran. It also keeps the text identical across 3.11-3.13 (3.13 marks more lines
    than 3.11 does), so an alert reads the same whichever Python the app runs on.
    """

    def __init__(self, exceptions: Sequence[ExceptionInfo]) -> None:
        self.exceptions = exceptions
        self.lines: list[str] = []
        self.depth = 0  # exception group nesting
        self.need_close = False
        self.members: dict[int, list[list[int]]] = {}
        self.top: list[list[int]] = []
        segment: list[int] = []
        for i, exc in enumerate(exceptions):
            segment.append(i)
            if exc.relation in ("cause", "context"):
                continue  # the chain goes on with the next exception
            parent = exc.parent
            if (
                exc.relation == "group"
                and isinstance(parent, int)
                and 0 <= parent < len(exceptions)
            ):
                self.members.setdefault(parent, []).append(segment)
            else:
                self.top.append(segment)
            segment = []
        if segment:  # a chain cut short: print what there is
            self.top.append(segment)

    def emit(self, text: str, margin: str = "|") -> None:
        if not self.depth:  # nearly every line; lines are joined with "\n" in the end
            self.lines.append(text)
            return
        prefix = " " * (2 * self.depth) + (f"{margin} " if self.depth else "")
        self.lines.extend(prefix + line for line in text.split("\n"))

    def segment(self, segment: list[int]) -> None:
        for pos, i in enumerate(segment):
            if pos:
                relation = self.exceptions[segment[pos - 1]].relation
                message = _CAUSE_MESSAGE if relation == "cause" else _CONTEXT_MESSAGE
                self.emit(f"\n{message}\n")
            self.exception(i)

    def stack(self, exc: ExceptionInfo) -> None:
        for n, frame in enumerate(exc.frames):
            if exc.frames_omitted and n == min(HEAD_FRAMES, len(exc.frames)):
                self.emit(f"  [... {exc.frames_omitted} frames omitted ...]")
            self.emit(_frame_text(frame))

    def exception(self, i: int) -> None:
        exc = self.exceptions[i]
        groups = self.members.get(i, [])
        omitted = exc.members_omitted if isinstance(exc.members_omitted, int) else 0
        if not groups and omitted <= 0:
            if exc.frames:
                self.emit("Traceback (most recent call last):")
                self.stack(exc)
            self.emit(_exception_line(exc))
            return
        toplevel = self.depth == 0
        if toplevel:
            self.depth += 1
        if exc.frames:
            header = "Exception Group Traceback (most recent call last):"
            self.emit(header, margin="+" if toplevel else "|")
            self.stack(exc)
        self.emit(_exception_line(exc))
        self.need_close = False
        # the members kept, then (like Python past 15 members) how many were left out
        boxes = len(groups) + (1 if omitted > 0 else 0)
        for n in range(boxes):
            last = n == boxes - 1
            if last:
                self.need_close = True  # a nested group may close the box first
            corner = "+-" if n == 0 else "  "
            label = str(n + 1) if n < len(groups) else "..."
            self.lines.append(
                f"{' ' * (2 * self.depth)}{corner}+---------------- {label} ----------------"
            )
            self.depth += 1
            if n < len(groups):
                self.segment(groups[n])
            else:
                self.emit(f"and {omitted} more exception{'s' if omitted > 1 else ''}")
            if last and self.need_close:
                self.lines.append(f"{' ' * (2 * self.depth)}+------------------------------------")
                self.need_close = False
            self.depth -= 1
        if toplevel:
            self.depth = 0


# id(frame) -> (frame, its lines of the traceback), for the frames live_frames keeps and
# hands out again (those without locals); held, so that the id is not reused while cached
_frame_text_cache: dict[int, tuple[Frame, str]] = {}


def _frame_text(frame: Frame) -> str:
    entry = _frame_text_cache.get(id(frame))
    if entry is not None and entry[0] is frame:
        return entry[1]
    text = f'  File "{frame.abs_path}", line {frame.lineno}, in {frame.function}'
    if frame.context_line:
        text = f"{text}\n    {frame.context_line}"
    if frame.locals is None:
        if len(_frame_text_cache) >= FRAME_CACHE_MAX:
            _frame_text_cache.clear()
        _frame_text_cache[id(frame)] = (frame, text)
    return text


def _exception_line(exc: ExceptionInfo) -> str:
    name = exc.type if exc.module in ("builtins", "__main__", "") else f"{exc.module}.{exc.type}"
    return f"{name}: {exc.message}" if exc.message else name


def format_traceback(exceptions: Sequence[ExceptionInfo]) -> str:
    """The text Python would print for these exceptions (as ordered in
    ``Event.exceptions``) minus the position marker lines (``~~~^^^``, see ``_Printer``),
    without the trailing newline."""
    printer = _Printer(exceptions)
    for n, segment in enumerate(printer.top):
        if n:
            printer.emit("")
        printer.segment(segment)
    return "\n".join(printer.lines)
