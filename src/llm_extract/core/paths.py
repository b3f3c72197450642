"""Paths into records, in one syntax everywhere: 'location.site' (keys), 'weapons[].type' (every element of a
list: a generic path, as schemas and scoring configs name fields) and 'incidents[0].weapons[1]' (one element: a
concrete path, as grounding, salvage and the review page point at one value)."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from typing import Any

Step = tuple[str, bool]  # a key, and whether its value is a list the rest of the path reads element by element
Loc = tuple[str | int, ...]  # a concrete path as keys and indexes (pydantic's error locations)
# What a walk makes of a value read from one element of the first list: (element, its key read, value) -> value.
Wrap = Callable[[Any, str, Any], Any]


@functools.lru_cache(maxsize=1024)
def parse_path(path: str) -> tuple[Step, ...]:
    """'a[].b' -> (('a', True), ('b', False))."""
    return tuple((part.removesuffix("[]"), part.endswith("[]")) for part in path.split("."))


def walk(node: Any, steps: tuple[Step, ...], wrap: Wrap | None = None) -> Any:
    """The value at `steps`; None where a key is missing or a node is not an object. A list step gives a list: the
    rest of the path read in each element (or the list itself, at the end). `wrap` sees each value read from an
    element of the first list (the scorer marks a gold element's optional values with it)."""
    for index, (key, is_list) in enumerate(steps):
        if not isinstance(node, dict):
            return None
        node = node.get(key)
        if is_list:
            if node is None:
                return None
            rest = steps[index + 1 :]
            if not rest:
                return list(node)
            if wrap is not None:
                return [wrap(item, rest[0][0], walk(item, rest)) for item in node]
            return [walk(item, rest) for item in node]
    return node


def get_path(record: dict[str, Any] | None, path: str) -> Any:
    """The value at a path (see walk): 'a[].b' collects b from each element of list a; 'a[]' is the list itself."""
    return walk(record, parse_path(path))


def has_path(record: dict[str, Any], path: str) -> bool:
    """Whether every key of the path is there, up to the first list (an absent key can mean 'not labelled')."""
    node: Any = record
    for key, is_list in parse_path(path):
        if not isinstance(node, dict) or key not in node:
            return False
        node = node[key]
        if is_list:
            return True
    return True


def iter_path(node: Any, path: str, prefix: str) -> Iterator[tuple[str, Any]]:
    """(concrete path, value) for each value at a generic path ('a[].b' visits every element of a), the concrete
    path starting with `prefix`; nulls are skipped, and a list step over a value that is not a list reads it as
    it is."""
    yield from _iter_steps(node, parse_path(path), prefix)


def _iter_steps(node: Any, steps: tuple[Step, ...], prefix: str) -> Iterator[tuple[str, Any]]:
    (key, is_list), rest = steps[0], steps[1:]
    if not isinstance(node, dict) or node.get(key) is None:
        return
    value, here = node[key], f"{prefix}.{key}" if prefix else key
    children = (
        [(f"{here}[{i}]", item) for i, item in enumerate(value)]
        if is_list and isinstance(value, list)
        else [(here, value)]
    )
    for child_path, child in children:
        if rest:
            yield from _iter_steps(child, rest, child_path)
        elif child is not None:
            yield child_path, child


def replace_path(node: Any, path: str, replace: Callable[[Any], Any]) -> Any:
    """A copy of `node` with each value at a generic path replaced by `replace(value)`; where the path does not
    reach (a key missing, a list step over a value that is not a list) the node is left as it is."""
    return _replace_steps(node, parse_path(path), replace)


def _replace_steps(node: Any, steps: tuple[Step, ...], replace: Callable[[Any], Any]) -> Any:
    if not steps:
        return replace(node)
    (key, is_list), rest = steps[0], steps[1:]
    if not isinstance(node, dict) or key not in node:
        return node
    value = node[key]
    if is_list and isinstance(value, list):
        value = [_replace_steps(item, rest, replace) for item in value]
    elif not is_list:
        value = _replace_steps(value, rest, replace)
    return {**node, key: value}


def set_path(record: dict[str, Any], path: str, value: Any) -> None:
    """Put `value` at a path of keys ('casualties.killed'), making the objects on the way."""
    steps = parse_path(path)
    if any(is_list for _, is_list in steps):
        raise ValueError(f"{path!r}: set_path takes keys only, not lists")
    *parents, (leaf, _) = steps
    for parent, _ in parents:
        record = record.setdefault(parent, {})
    record[leaf] = value


def generic_path(path: str) -> str:
    """'incidents[0].perpetrators[1].name' -> 'incidents[].perpetrators[].name' (for counting by field)."""
    out, depth = [], 0
    for char in path:
        if char == "[":
            depth += 1
            out.append("[]")
        elif char == "]":
            depth -= 1
        elif depth == 0:
            out.append(char)
    return "".join(out)


def path_of(loc: Loc) -> str:
    """('incidents', 0, 'weapons', 1) -> 'incidents[0].weapons[1]'."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def loc_of(path: str) -> Loc:
    """'incidents[0].location.site' -> ('incidents', 0, 'location', 'site'); the inverse of path_of."""
    loc: list[str | int] = []
    for part in path.replace("]", "").split("."):
        name, *indexes = part.split("[")
        loc += [name, *map(int, indexes)]
    return tuple(loc)


def get_at(node: Any, loc: Loc) -> Any:
    """The value at a concrete path (loc_of('targets[0].name')); None where a key or an element is missing or a
    node is not the object or list the step reads."""
    for step in loc:
        if isinstance(step, int):
            node = node[step] if isinstance(node, list) and 0 <= step < len(node) else None
        else:
            node = node.get(step) if isinstance(node, dict) else None
    return node


def set_at(record: dict[str, Any], loc: Loc, value: Any) -> str | None:
    """Put `value` at a concrete path (loc_of('targets[0].name')), making missing or null objects on the way; a
    list element that is not there is not made. Returns why it could not, or None. (set_path takes keys only,
    replace_path every element of a list: neither sets one element.)"""
    node: Any = record
    for depth, step in enumerate(loc):
        last = depth == len(loc) - 1
        where = path_of(loc[: depth + 1]) if isinstance(loc[0], str) else str(step)
        if isinstance(step, int):
            if not isinstance(node, list) or not 0 <= step < len(node):
                return f"{where} does not exist (the list has {len(node) if isinstance(node, list) else 0} element(s))"
            if last:
                node[step] = value
            else:
                node = node[step]
            continue
        if not isinstance(node, dict):
            return f"{where}: its parent is not an object"
        if last:
            node[step] = value
        elif node.get(step) is None and isinstance(loc[depth + 1], str):
            node[step] = {}
            node = node[step]
        else:
            node = node.get(step)
    return None
