"""YAML for configs, bounded: a file that is too deep, too big, or an alias bomb (aliases that
expand a few lines into millions of values) is refused with its line and column, quickly and in
little memory, before anything walks the expanded data. A leaf: no directord imports."""

from __future__ import annotations

from typing import Any

import yaml
from yaml.events import AliasEvent, CollectionEndEvent, CollectionStartEvent, NodeEvent
from yaml.nodes import CollectionNode, MappingNode, Node, ScalarNode, SequenceNode

MAX_DEPTH = 64  # a config needs about 8 levels
MAX_NODES = 100_000  # values written in the file (a config with 1,000 jobs has ~30,000)
MAX_EXPANDED = 100_000  # values that aliases add beyond those written


class YamlProblem(Exception):
    """Not usable YAML; ``line`` and ``column`` (1-based) say where, when known."""

    def __init__(self, problem: str, line: int | None = None, column: int | None = None):
        self.problem = problem
        self.line = line
        self.column = column
        super().__init__(str(self))

    def __str__(self) -> str:
        where = f"line {self.line}, column {self.column}: " if self.line is not None else ""
        return f"{where}{self.problem}"


def _at(node_or_mark: Any) -> tuple[int | None, int | None]:
    mark = getattr(node_or_mark, "start_mark", node_or_mark)
    if mark is None:
        return None, None
    return mark.line + 1, mark.column + 1


# libyaml when present (fast, and its parser keeps its own stack, not Python's); the events
# are checked for depth and count before anything recursive (composing) sees them.
_LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Loader(_LOADER):  # type: ignore[misc,valid-type]
    """The loader with each scalar's implicit tag resolved once per text: keys and values repeat
    (every job says name, kind, interval), and matching each against the resolvers' regular
    expressions was a fifth of loading 10,000 jobs. The safe loader has no path resolvers, so a
    scalar's tag depends only on its text and style."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._tags: dict[tuple[str, bool, bool], str] = {}

    def resolve(self, kind: type[Node], value: Any, implicit: Any) -> str:
        if kind is not ScalarNode or self.yaml_path_resolvers:
            return str(super().resolve(kind, value, implicit))
        key = (value, implicit[0], implicit[1])
        tag = self._tags.get(key)
        if tag is None:
            tag = self._tags[key] = super().resolve(kind, value, implicit)
        return tag


def _check_events(text: str) -> bool:
    """Refuse too deep or too many values; whether the document uses aliases at all."""
    depth = 0
    values = 0
    aliases = False
    for event in yaml.parse(text, Loader=_LOADER):
        if isinstance(event, CollectionStartEvent):
            depth += 1
            if depth > MAX_DEPTH:
                line, column = _at(event)
                raise YamlProblem(f"nested more than {MAX_DEPTH} levels deep", line, column)
        elif isinstance(event, CollectionEndEvent):
            depth -= 1
        if isinstance(event, NodeEvent):
            values += 1
            if values > MAX_NODES:
                line, column = _at(event)
                raise YamlProblem(f"more than {MAX_NODES} values", line, column)
            aliases = aliases or isinstance(event, AliasEvent)
    return aliases


def _children(node: Node) -> list[Node]:
    if isinstance(node, SequenceNode):
        return list(node.value)
    if isinstance(node, MappingNode):
        return [part for pair in node.value for part in pair]
    return []


def check_expansion(root: Node) -> None:
    """Refuse aliases that expand too far, too deep, or into themselves. Iterative, memoized
    per node: the cost is that of the nodes written, however far they would expand."""
    size: dict[int, int] = {}
    height: dict[int, int] = {}
    open_: set[int] = set()
    written = 0
    stack: list[tuple[Node, bool]] = [(root, False)]
    while stack:
        node, done = stack.pop()
        key = id(node)
        if done:
            open_.discard(key)
            kids = _children(node)
            size[key] = 1 + sum(size[id(k)] for k in kids)
            height[key] = 1 + max((height[id(k)] for k in kids), default=0)
            if height[key] > MAX_DEPTH:
                line, column = _at(node)
                raise YamlProblem(
                    f"aliases nest the values here more than {MAX_DEPTH} levels deep",
                    line,
                    column,
                )
            if size[key] > written + MAX_EXPANDED:
                line, column = _at(node)
                raise YamlProblem(
                    f"aliases expand the values here to {size[key]} "
                    f"(more than {MAX_EXPANDED} beyond those written): an alias bomb?",
                    line,
                    column,
                )
            continue
        if key in size:
            continue
        if key in open_:
            line, column = _at(node)
            raise YamlProblem("an alias refers to a value that contains it", line, column)
        open_.add(key)
        written += 1
        stack.append((node, True))
        if isinstance(node, CollectionNode):
            stack.extend((k, False) for k in reversed(_children(node)))


def load(text: str) -> Any:
    """The single document in ``text`` (None when empty); YamlProblem otherwise."""
    try:
        aliases = _check_events(text)
        loader = _Loader(text)
        try:
            node = loader.get_single_node()
            if node is None:
                return None
            # Without aliases the values are those written, already counted and measured by
            # depth above; walking the nodes again cost a config of 10,000 jobs a second.
            if aliases:
                check_expansion(node)
            return loader.construct_document(node)
        finally:
            loader.dispose()
    except yaml.MarkedYAMLError as exc:
        line, column = _at(exc.problem_mark)
        problem = exc.problem or str(exc)
        raise YamlProblem(f"not valid YAML: {problem}", line, column) from None
    except yaml.reader.ReaderError as exc:
        before = text[: exc.position]
        line = before.count("\n") + 1
        column = exc.position - (before.rfind("\n") + 1) + 1
        raise YamlProblem(
            f"not valid YAML: character {chr(exc.character)!r} is not allowed", line, column
        ) from None
    except yaml.YAMLError as exc:
        raise YamlProblem(f"not valid YAML: {exc}") from None


def decode(data: bytes) -> str:
    """UTF-8 text, or YamlProblem naming where the first bad byte is."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        before = data[: exc.start]
        line = before.count(b"\n") + 1
        column = len(before) - (before.rfind(b"\n") + 1) + 1
        raise YamlProblem(
            f"not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start})", line, column
        ) from None
