"""Shared plumbing: decode, size-check and load YAML, remembering the line of every field."""

from dataclasses import dataclass

import yaml

DEFAULT_MAX_BYTES = 1_000_000


class _Loader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):
    """The safe loader, constructing only what JSON can hold: what is read ends up in JSON columns and audit events.
    Timestamps and !!binary stay the text as written, a !!set is a mapping to nulls."""


_Loader.add_constructor("tag:yaml.org,2002:timestamp", yaml.constructor.SafeConstructor.construct_yaml_str)
_Loader.add_constructor("tag:yaml.org,2002:binary", yaml.constructor.SafeConstructor.construct_yaml_str)
_Loader.add_constructor("tag:yaml.org,2002:set", yaml.constructor.SafeConstructor.construct_yaml_map)
MAX_EXPANDED_NODES = 100_000
# Building nodes and data recurses once per level (in Python): a file nested ~1,000 deep exhausts the stack, below
# libyaml's own limit. Metadata files are shallow; deeper nesting is refused from the parser's events, before any
# node is built.
MAX_DEPTH = 64


@dataclass(frozen=True)
class ParseError:
    """One problem in one file, phrased for the person who wrote the file."""

    path: str
    line: int | None
    field: str
    message: str

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line else self.path
        return f"{where}: {self.field}: {self.message}" if self.field else f"{where}: {self.message}"


@dataclass
class Loaded:
    """A YAML document as plain data, plus the line and raw scalar text of each dotted field."""

    data: object = None
    lines: dict | None = None
    raw: dict | None = None

    def line(self, field: str) -> int | None:
        return (self.lines or {}).get(field)


def decode(text: str | bytes, path: str, max_bytes: int) -> tuple[str | None, list[ParseError]]:
    """Bytes → text, refusing oversized or non-UTF-8 files before any parsing."""
    size = len(text) if isinstance(text, bytes) else len(text.encode("utf-8", "surrogatepass"))
    if size > max_bytes:
        return None, [ParseError(path, None, "", f"file is {size} bytes, over the limit of {max_bytes}")]
    if isinstance(text, str):
        return text.removeprefix("\ufeff"), []
    try:
        return text.decode("utf-8").removeprefix("\ufeff"), []
    except UnicodeDecodeError as exc:
        line = text[: exc.start].count(b"\n") + 1
        return None, [ParseError(path, line, "", f"not UTF-8 (invalid byte at offset {exc.start})")]


def load(text: str | bytes, path: str, max_bytes: int = DEFAULT_MAX_BYTES) -> tuple[Loaded, list[ParseError]]:
    """Parse one YAML document safely; errors carry the line PyYAML points at."""
    source, errors = decode(text, path, max_bytes)
    if source is None:
        return Loaded(), errors
    # libyaml's parser when present (ten times faster than pure Python): its events to bound the depth, then the
    # node tree for line numbers and the alias check, and the data constructed from that same tree.
    loader = _Loader(source)
    try:
        too_deep = _too_deep(source)
        if too_deep is not None:
            return Loaded(), [ParseError(path, too_deep, "", f"nested more than {MAX_DEPTH} levels deep; not read")]
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc)
        return Loaded(), [ParseError(path, mark.line + 1 if mark else None, "", f"malformed YAML: {problem}")]
    finally:
        loader.dispose()
    unstorable = _unstorable(node)
    if unstorable is not None:
        line, what = unstorable
        return Loaded(), [ParseError(path, line, "", f"{what}; not read")]
    if node is not None:
        size = _expanded_size(node, {})
        if size is None or size > MAX_EXPANDED_NODES:
            # Anchors and aliases are shared in memory but copied by anything that serialises the data.
            message = f"YAML aliases expand to more than {MAX_EXPANDED_NODES} values"
            return Loaded(), [ParseError(path, None, "", message if size else "recursive YAML alias")]
    loaded = Loaded(data=data, lines={}, raw={})
    if node is not None:
        _index(node, "", loaded, errors, path, set())
    return loaded, errors


def _too_deep(source: str) -> int | None:
    """The line where collections first nest deeper than MAX_DEPTH, else None; from parser events (no recursion)."""
    depth = 0
    for event in yaml.parse(source, Loader=_Loader):
        if isinstance(event, yaml.CollectionStartEvent):
            depth += 1
            if depth > MAX_DEPTH:
                return event.start_mark.line + 1
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1
    return None


def _unstorable(node) -> tuple[int, str] | None:
    """(line, why) for a scalar no database column or JSON document can hold: a NUL character or a lone surrogate,
    which YAML's escapes ("\\0", "\\ud800") can write."""
    pending, seen = [node] if node is not None else [], set()
    while pending:
        current = pending.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, yaml.ScalarNode):
            text = current.value
            if "\x00" in text:
                return current.start_mark.line + 1, "contains a NUL character (\\0)"
            try:
                text.encode("utf-8")
            except UnicodeEncodeError:
                return current.start_mark.line + 1, "contains an unpaired surrogate (\\ud800-\\udfff)"
        elif isinstance(current, yaml.SequenceNode):
            pending.extend(current.value)
        elif isinstance(current, yaml.MappingNode):
            pending.extend(child for pair in current.value for child in pair)
    return None


def _expanded_size(node, sizes: dict) -> int | None:
    """Node count with every alias expanded, memoised; None for a structure that contains itself."""
    key = id(node)
    if key in sizes:
        return sizes[key]
    sizes[key] = None
    children = []
    if isinstance(node, yaml.SequenceNode):
        children = node.value
    elif isinstance(node, yaml.MappingNode):
        children = [child for pair in node.value for child in pair]
    total = 1
    for child in children:
        size = _expanded_size(child, sizes)
        if size is None:
            return None
        total = min(total + size, MAX_EXPANDED_NODES + 1)
    sizes[key] = total
    return total


def _index(node, prefix: str, loaded: Loaded, errors: list[ParseError], path: str, visited: set) -> None:
    loaded.lines.setdefault(prefix, node.start_mark.line + 1)
    # Aliases share one node: walking it again would let a "billion laughs" file explode.
    if id(node) in visited:
        return
    visited.add(id(node))
    if isinstance(node, yaml.ScalarNode):
        loaded.raw[prefix] = node.value
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _index(item, f"{prefix}[{index}]", loaded, errors, path, visited)
    elif isinstance(node, yaml.MappingNode):
        seen = set()
        for key_node, value_node in node.value:
            key = str(key_node.value)
            field = f"{prefix}.{key}" if prefix else key
            if key in seen:
                # PyYAML keeps the last duplicate silently; a governance file should not.
                errors.append(ParseError(path, key_node.start_mark.line + 1, field, "duplicate key"))
            seen.add(key)
            loaded.lines[field] = key_node.start_mark.line + 1
            _index(value_node, field, loaded, errors, path, visited)


class Collector:
    """Gathers errors for one file with the line looked up from the field's dotted path."""

    def __init__(self, path: str, loaded: Loaded):
        self.path = path
        self.loaded = loaded
        self.errors: list[ParseError] = []

    def add(self, field: str, message: str) -> None:
        self.errors.append(ParseError(self.path, self._line(field), field, message))

    def _line(self, field: str) -> int | None:
        while field:
            line = self.loaded.line(field)
            if line is not None:
                return line
            field = field.rsplit(".", 1)[0] if "." in field else ""
        return None

    def unknown_keys(self, mapping: dict, allowed: set[str], prefix: str) -> None:
        unknown = sorted(str(key) for key in mapping if key not in allowed)
        if unknown:
            names = ", ".join(unknown)
            self.add(f"{prefix}.{unknown[0]}" if prefix else unknown[0], f"unknown key(s): {names}")
