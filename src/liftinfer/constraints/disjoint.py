"""oneOf read as anyOf where that is exact: when no value can match two of its branches.

Both grammar engines enforce ``anyOf``, neither ``oneOf``'s "exactly one"; :func:`provably_disjoint`
proves the branches exclusive from their types, enum/const values and required tag properties.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


def types_of(node: dict[str, Any]) -> set[str]:
    """The type names a subschema's ``type`` lists (empty where it has none)."""
    declared = node.get("type")
    if isinstance(declared, str):
        return {declared}
    if isinstance(declared, list):
        return {t for t in declared if isinstance(t, str)}
    return set()


def provably_disjoint(branches: Any, defs: dict[str, Any]) -> bool:
    """True when no value can validate against two of ``branches`` (so oneOf means anyOf)."""
    if not isinstance(branches, list):
        return False
    shapes = [_shape(b, defs, 0) for b in branches]
    return all(_disjoint(a, b) for i, a in enumerate(shapes) for b in shapes[i + 1 :])


@dataclass
class _Shape:
    """What little is needed to prove two schemas disjoint."""

    types: frozenset[str] | None = None  # None: any type
    values: list[Any] | None = None  # None: not an enum/const
    tags: dict[str, list[Any]] = field(default_factory=dict)  # required property -> its allowed values
    never: bool = False


def _shape(schema: Any, defs: dict[str, Any], depth: int) -> _Shape:
    if schema is False:
        return _Shape(never=True)
    if not isinstance(schema, dict) or depth > 8:
        return _Shape()
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/$defs/") and len(schema) == 1:
        return _shape(defs.get(ref.removeprefix("#/$defs/"), {}), defs, depth + 1)
    shape = _Shape()
    types = types_of(schema)
    if types:
        expanded = set(types) | ({"integer"} if "number" in types else set())
        shape.types = frozenset(expanded)
    if "const" in schema:
        shape.values = [schema["const"]]
    elif isinstance(schema.get("enum"), list):
        shape.values = list(schema["enum"])
    if shape.values is not None and shape.types is None:
        shape.types = frozenset(_json_type(v) for v in shape.values) | (
            {"number"} if any(_json_type(v) == "integer" for v in shape.values) else set()
        )
    props: dict[str, Any] = schema["properties"] if isinstance(schema.get("properties"), dict) else {}
    for name in schema.get("required") or []:
        sub = _shape(props.get(name), defs, depth + 1) if name in props else _Shape()
        if sub.values is not None:
            shape.tags[name] = sub.values
    return shape


def _disjoint(a: _Shape, b: _Shape) -> bool:
    if a.never or b.never:
        return True
    if a.types is not None and b.types is not None and not (a.types & b.types):
        return True
    if (
        a.values is not None
        and b.values is not None
        and not any(same_value(x, y) for x in a.values for y in b.values)
    ):
        return True
    for name, values in a.tags.items():
        other = b.tags.get(name)
        clash = other is not None and not any(same_value(x, y) for x in values for y in other)
        # properties and required only bind objects: the tags separate the branches if one is objects only
        if clash and any(s.types is not None and s.types <= {"object"} for s in (a, b)):
            return True
    return False


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int) or (isinstance(value, float) and value.is_integer()):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def same_value(x: Any, y: Any) -> bool:
    """JSON Schema equality: 1 == 1.0, but true != 1."""
    if isinstance(x, bool) or isinstance(y, bool):
        return type(x) is type(y) and x == y
    return bool(x == y)
