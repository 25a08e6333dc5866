"""Load untrusted YAML with PyYAML's safe loader, refusing alias bombs and cycles.

`yaml.safe_load_all` never runs code, but anchors and aliases let a few hundred bytes
stand for billions of nodes ("billion laughs") or for a structure that contains
itself. Both are refused here before anything walks the data: the composed node graph
is measured with every alias expanded, iteratively, and must stay under MAX_NODES.
Nesting deeper than MAX_DEPTH is refused from the event stream before anything is
composed: libyaml's composer recurses in C and would crash the process instead.
"""

from __future__ import annotations

import yaml

from .base import ParseError

MAX_YAML_BYTES = 8 * 1024 * 1024
MAX_ALIASES = 1000
MAX_NODES = 1_000_000  # nodes after expanding every alias
MAX_DEPTH = 200  # manifests and lock files nest a dozen levels; composing deeper recurses in C

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _expanded_size(root: yaml.Node, label: str) -> int:
    """Nodes in `root` with aliases expanded; ParseError on a cycle. Iterative, memoized."""
    sizes: dict[int, int] = {}
    on_path: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        key = id(node)
        if children_done:
            on_path.discard(key)
            total = 1
            for child in _children(node):
                total += sizes[id(child)]
                if total > MAX_NODES:
                    raise ParseError(f"{label}: the YAML expands to more than {MAX_NODES:,} nodes through its aliases")
            sizes[key] = total
            continue
        if key in sizes:
            continue
        if key in on_path:
            raise ParseError(f"{label}: the YAML contains itself through an alias (a cycle)")
        on_path.add(key)
        stack.append((node, True))
        for child in _children(node):
            if id(child) in on_path:
                raise ParseError(f"{label}: the YAML contains itself through an alias (a cycle)")
            if id(child) not in sizes:
                stack.append((child, False))
    return sizes[id(root)]


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    return []


def _decode(body: bytes, label: str) -> str:
    if not isinstance(body, (bytes, bytearray, memoryview)):
        raise ParseError(f"{label}: expected bytes, got {type(body).__name__}")
    data = bytes(body)
    if len(data) > MAX_YAML_BYTES:
        raise ParseError(f"{label}: the YAML is {len(data):,} bytes; the limit is {MAX_YAML_BYTES:,}")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ParseError(f"{label}: the file is not UTF-8 text") from None


def _count_aliases(raw: str, label: str) -> int:
    """Aliases in the stream, refusing too many of them or nesting past MAX_DEPTH.

    One streaming pass over the events: libyaml's parser keeps its own stack, but
    composing nodes recurses in C, so deep nesting must be refused before that.
    """
    aliases = depth = 0
    for event in yaml.parse(raw, Loader=_Loader):
        if isinstance(event, yaml.CollectionStartEvent):
            depth += 1
            if depth > MAX_DEPTH:
                raise ParseError(f"{label}: the YAML is nested more than {MAX_DEPTH} levels deep")
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1
        elif isinstance(event, yaml.AliasEvent):
            aliases += 1
            if aliases > MAX_ALIASES:
                raise ParseError(f"{label}: the YAML uses more than {MAX_ALIASES:,} aliases; remove them")
    return aliases


def _refuse_alias_bombs(raw: str, label: str) -> None:
    """ParseError when the documents, aliases expanded, hold more than MAX_NODES nodes (or a cycle)."""
    total = 0
    for node in yaml.compose_all(raw, Loader=_Loader):
        if node is not None:
            total += _expanded_size(node, label)
            if total > MAX_NODES:
                raise ParseError(f"{label}: the YAML expands to more than {MAX_NODES:,} nodes")


def _yaml_error(exc: yaml.YAMLError, label: str) -> ParseError:
    mark = getattr(exc, "problem_mark", None)
    where = f" at line {mark.line + 1} column {mark.column + 1}" if mark is not None else ""
    problem = getattr(exc, "problem", None) or type(exc).__name__
    return ParseError(f"{label}: not valid YAML ({problem}{where})"[:1000])


def load_yaml_documents(body: bytes, label: str) -> list:
    """Every document of a (multi-document) YAML stream as plain Python values."""
    raw = _decode(body, label)
    try:
        if _count_aliases(raw, label):
            _refuse_alias_bombs(raw, label)
        return list(yaml.load_all(raw, Loader=_Loader))  # noqa: S506 - the safe loader, C or Python
    except yaml.YAMLError as exc:
        raise _yaml_error(exc, label) from None
    except RecursionError:
        raise ParseError(f"{label}: the YAML is nested too deeply to read") from None
    except (ValueError, TypeError, OverflowError) as exc:  # e.g. a timestamp like 2024-13-45
        raise ParseError(f"{label}: not readable YAML ({exc})"[:1000]) from None
