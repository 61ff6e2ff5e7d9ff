"""The exceptions an event reports: the chain of causes and contexts, exception group
members included, walked without raising and bounded in length."""

from __future__ import annotations

from collections import deque

__all__ = ["MAX_EXCEPTIONS", "collect_chain"]

MAX_EXCEPTIONS = 25


class _Node:
    """One exception while the chain is collected: how it relates to the next one in its
    segment, and the segments of its members when it is an exception group."""

    __slots__ = ("exc", "members", "relation")

    def __init__(self, exc: BaseException, relation: str | None) -> None:
        self.exc = exc
        self.relation = relation
        self.members: list[list[_Node]] = []  # the members kept, each with its chain

    def omitted(self) -> int:
        """Members of this exception group not kept (over budget, or seen already)."""
        if not isinstance(self.exc, BaseExceptionGroup):
            return 0
        return max(len(_group_members(self.exc)) - len(self.members), 0)


def _segment(
    exc: BaseException, relation: str | None, seen: set[int], budget: list[int]
) -> list[_Node]:
    """``exc`` and what it was raised from or while handling, oldest first."""
    nodes: list[_Node] = []
    current: BaseException | None = exc
    while current is not None and id(current) not in seen and budget[0] > 0:
        seen.add(id(current))
        budget[0] -= 1
        nodes.append(_Node(current, relation))
        try:
            cause = current.__cause__
            context = None if current.__suppress_context__ else current.__context__
        except Exception:  # a class overriding them with properties that raise
            cause = context = None
        if isinstance(cause, BaseException):
            current, relation = cause, "cause"
        elif isinstance(context, BaseException):
            current, relation = context, "context"
        else:
            current = None
    nodes.reverse()
    return nodes


def _group_members(exc: BaseException) -> tuple[BaseException, ...]:
    if not isinstance(exc, BaseExceptionGroup):
        return ()
    try:
        members = tuple(exc.exceptions)
    except Exception:
        return ()
    return tuple(m for m in members if isinstance(m, BaseException))


def collect_chain(exc: BaseException) -> list[tuple[BaseException, str | None, int | None, int]]:
    """The exceptions to report, root cause first and ``exc`` last: (exception, relation
    to the next one, index of the group it belongs to, group members left out). Groups'
    members come before their group; at most ``MAX_EXCEPTIONS``, the chain of ``exc``
    first, then members breadth first, so a huge group cannot crowd out the cause of the
    error."""
    seen: set[int] = set()
    budget = [MAX_EXCEPTIONS]
    top = _segment(exc, None, seen, budget)
    queue = deque(node for node in top if isinstance(node.exc, BaseExceptionGroup))
    while queue and budget[0] > 0:
        node = queue.popleft()
        for member in _group_members(node.exc):
            segment = _segment(member, "group", seen, budget)
            if segment:
                node.members.append(segment)
                queue.extend(n for n in segment if isinstance(n.exc, BaseExceptionGroup))

    ordered: list[_Node] = []
    parents: dict[int, _Node] = {}  # id(member segment head) -> its group

    def flatten(segment: list[_Node]) -> None:
        for node in segment:
            for member_segment in node.members:
                parents[id(member_segment[-1])] = node
                flatten(member_segment)
        ordered.extend(segment)

    flatten(top)
    index = {id(node): i for i, node in enumerate(ordered)}
    result: list[tuple[BaseException, str | None, int | None, int]] = []
    for node in ordered:
        parent = parents.get(id(node))
        parent_index = index[id(parent)] if parent else None
        result.append((node.exc, node.relation, parent_index, node.omitted()))
    return result
