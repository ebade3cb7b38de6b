"""Closed objects: no properties beyond the declared ones where the schema leaves an object open.

Generation compiles the closed form (a subset of the schema's values: every value it allows still
validates), so a small model cannot add keys until it runs out of tokens; conformance runs measure the
open, JSON Schema grammar.
"""

from __future__ import annotations

from typing import Any

from liftinfer.constraints import locations

_OPEN_ENDED = ("additionalProperties", "patternProperties", "unevaluatedProperties", "allOf", "anyOf",
               "oneOf", "$ref", "dependentSchemas", "if")


def close_objects(schema: Any) -> Any:
    """The grammar schema with no properties beyond the declared ones where the schema leaves it open.

    Every value this grammar allows still validates (it is a subset); it keeps a small model from adding
    keys until it runs out of tokens. Objects merged through ``allOf`` stay open: closing one branch would
    forbid the properties another declares.
    """
    if not isinstance(schema, dict):
        return schema
    merged = _allof_targets(schema)
    defs = {name: _close(body, name in merged) for name, body in (schema.get("$defs") or {}).items()}
    closed = _close({k: v for k, v in schema.items() if k != "$defs"}, False)
    return {**closed, "$defs": defs} if defs and isinstance(closed, dict) else closed


# Closing an object under these would let more values through (they negate, or choose a branch).
_KEEP_AS_IS = frozenset({"not", "if", "disallow"})


def _close(node: Any, in_all_of: bool) -> Any:
    if not isinstance(node, dict):
        return node
    out = locations.map_subschemas(node, lambda sub, key: sub if key in _KEEP_AS_IS else _close(sub, key == "allOf"))
    if isinstance(node.get("properties"), dict) and not in_all_of and not set(_OPEN_ENDED) & set(node):
        out["additionalProperties"] = False
    return out


def _allof_targets(schema: dict[str, Any]) -> set[str]:
    """Names of $defs reached from an allOf branch (through $refs): they are merged, so stay open."""
    found: set[str] = set()
    defs = schema.get("$defs") or {}

    def refs_in(node: Any, into: set[str]) -> None:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                into.add(ref.removeprefix("#/$defs/"))
            for value in node.values():
                refs_in(value, into)
        elif isinstance(node, list):
            for value in node:
                refs_in(value, into)

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for branch in node.get("allOf") or []:
                if isinstance(branch, dict) and isinstance(branch.get("$ref"), str):
                    found.add(branch["$ref"].removeprefix("#/$defs/"))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(schema)
    todo = list(found)
    while todo:  # a merged definition's own $refs in place are merged too
        body = defs.get(todo.pop())
        if isinstance(body, dict) and isinstance(body.get("$ref"), str):
            name = body["$ref"].removeprefix("#/$defs/")
            if name not in found:
                found.add(name)
                todo.append(name)
    return found
