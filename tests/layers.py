"""The import contract of erralert's packages, and the checker that enforces it.

The layers run from the entry points down to the primitives; a module may import from its own
package and from any layer below its own, never from a layer above. Packages named in the same
row are siblings: independent of each other (the pipeline's stages hand each other frozen data
from ``_core``, never call into one another). Every import counts — at module level, inside a
function, under ``if TYPE_CHECKING:`` — because a function-level import is still a dependency,
only a later one, and it is how the old cycles hid.

The checker reads the source with ``ast`` and imports nothing, so a broken package can be
checked too (the tests feed it one on purpose).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

# Highest first. A name without a dot (the package itself: ``erralert/__init__.py``, the one
# public surface) stands for that module alone, not for everything under it.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("erralert.__main__",),
    ("erralert.cli",),  # tooling: the command and the demo, users of the public surface
    ("erralert.inbox",),  # tooling: the local chat imitation; imports almost nothing (ISOLATED)
    ("erralert",),
    ("erralert.integrations", "erralert.testing"),  # entry points into an application
    ("erralert._default",),  # the process-wide alerter behind erralert.init()
    ("erralert._alerter",),  # builds the pipeline and runs an event through it
    # the pipeline's stages
    (
        "erralert._capture",
        "erralert._grouping",
        "erralert._routing",
        "erralert._render",
        "erralert._delivery",
    ),
    ("erralert._stores",),  # windows, the delivery ledger, storm piles: memory, SQLite, Redis
    ("erralert.channels",),  # one module per chat platform: URL, limits, dialect, payload, answer
    ("erralert._core",),  # primitives: the event, the notice, errors, config, pacing, text
)

# Packages that may import nothing of erralert outside themselves but what is listed: the
# inbox imitates the platforms to check what the sending side sends, so it shares none of
# the sending side's code (a bug there would otherwise be approved by its own copy).
# The Prometheus text format (``_core.exposition``) is the scraper's, not the sending side's:
# the inbox's /metrics writes it with the same helper.
ISOLATED: dict[str, tuple[str, ...]] = {
    "erralert.inbox": ("erralert._core.safelog", "erralert._core.exposition")
}


@dataclass(frozen=True)
class Import:
    importer: str  # dotted module name
    imported: str  # dotted module name (the deepest module the statement names)
    line: int


@dataclass(frozen=True)
class Violation:
    imp: Import
    reason: str

    def __str__(self) -> str:
        return f"{self.imp.importer}:{self.imp.line} imports {self.imp.imported}: {self.reason}"


def modules(root: Path, package: str) -> dict[str, Path]:
    """Every module of the package under ``root`` (the directory holding ``__init__.py``)."""
    found: dict[str, Path] = {}
    for path in sorted(root.rglob("*.py")):
        parts = [package, *path.relative_to(root).with_suffix("").parts]
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def imports(found: Mapping[str, Path], package: str) -> Iterator[Import]:
    """Every import of a module of ``package`` by a module of ``package``, wherever it is."""
    for name, path in found.items():
        is_package = path.name == "__init__.py"
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = _absolute(name, is_package, node.level, node.module)
                # "from a.b import c" names the module a.b.c when c is one, else a.b
                targets = [
                    f"{base}.{alias.name}" if f"{base}.{alias.name}" in found else base
                    for alias in node.names
                ]
            else:
                continue
            for target in targets:
                if target == package or target.startswith(package + "."):
                    yield Import(name, _deepest(target, found), node.lineno)


def _absolute(importer: str, is_package: bool, level: int, module: str | None) -> str:
    if not level:
        return module or ""
    parts = importer.split(".")
    if not is_package:
        parts.pop()
    parts = parts[: len(parts) - (level - 1)]
    return ".".join([*parts, module] if module else parts)


def _deepest(target: str, found: Mapping[str, Path]) -> str:
    while target not in found and "." in target:
        target = target.rpartition(".")[0]
    return target


def _within(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def _place(module: str, layers: Sequence[Sequence[str]]) -> tuple[int, str] | None:
    """The row and the sibling package a module belongs to; None for a module in no row."""
    for row, siblings in enumerate(layers):
        for sibling in siblings:
            if module == sibling or ("." in sibling and module.startswith(sibling + ".")):
                return row, sibling
    return None


def violations(
    found: Mapping[str, Path],
    package: str,
    layers: Sequence[Sequence[str]] = LAYERS,
    isolated: Mapping[str, Sequence[str]] = ISOLATED,
) -> list[Violation]:
    """Upward imports, imports between siblings, imports out of an isolated package, modules
    in no layer, and cycles."""
    out: list[Violation] = []
    for name in found:
        if _place(name, layers) is None:
            out.append(Violation(Import(name, name, 0), "the module is in no layer"))
    graph: dict[str, set[str]] = {name: set() for name in found}
    for imp in dict.fromkeys(imports(found, package)):  # one report per line and module
        graph[imp.importer].add(imp.imported)
        for home, allowed in isolated.items():
            inside = _within(imp.importer, home) and not _within(imp.imported, home)
            if inside and not any(_within(imp.imported, ok) for ok in allowed):
                out.append(Violation(imp, f"{home} imports only {', '.join(allowed)}"))
        source, target = _place(imp.importer, layers), _place(imp.imported, layers)
        if source is None or target is None or source[1] == target[1]:
            continue
        if target[0] < source[0]:
            out.append(Violation(imp, f"upward: {target[1]} is above {source[1]}"))
        elif target[0] == source[0]:
            out.append(Violation(imp, f"sideways: {source[1]} and {target[1]} are siblings"))
    out.extend(
        Violation(Import(cycle[0], cycle[1], 0), "cycle: " + " -> ".join(cycle))
        for cycle in cycles(graph)
    )
    return out


def cycles(graph: Mapping[str, set[str]]) -> list[list[str]]:
    """One cycle (as a path that returns to its start) per strongly connected component."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def visit(node: str) -> None:  # Tarjan's algorithm; erralert's graph is small
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                components.append(component)

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return [_path_through(sorted(component), graph) for component in components]


def _path_through(component: list[str], graph: Mapping[str, set[str]]) -> list[str]:
    """A cycle inside a strongly connected component, found breadth-first from its first
    member back to itself, for a readable message."""
    start, members = component[0], set(component)
    paths = {start: [start]}
    queue = [start]
    while queue:
        node = queue.pop(0)
        for nxt in sorted(graph.get(node, ())):
            if nxt == start:
                return [*paths[node], start]
            if nxt in members and nxt not in paths:
                paths[nxt] = [*paths[node], nxt]
                queue.append(nxt)
    return component
