"""Where subschemas sit in a schema, for every draft liftinfer reads: the one table every walker uses.

The walkers (the request checks, the draft rewriter, the keyword profiles, the grammar preparations and
the in-place cycle check) differ in what they do at a subschema, not in where they find one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

Path = tuple[str | int, ...]

# Keywords whose value is one subschema ("items" is one from 2020-12 on, a list before it; draft-03's
# "extends" and "disallow" are either).
SINGLE = ("additionalProperties", "additionalItems", "contains", "not", "if", "then", "else", "propertyNames",
          "unevaluatedItems", "unevaluatedProperties", "items", "contentSchema", "extends", "disallow")
# Keywords whose value maps names to subschemas.
MAPS = ("properties", "patternProperties", "$defs", "definitions", "dependentSchemas")
# Keywords whose value is a list of subschemas (draft-03's "type" may list schemas beside type names).
LISTS = ("allOf", "anyOf", "oneOf", "prefixItems", "items", "extends", "disallow", "type")
# Where definitions are kept: not applied to the instance where they stand.
DEFINITIONS = frozenset({"$defs", "definitions"})
# Keywords that apply their subschemas to the same instance as the schema holding them: a chain of these
# (and $refs) that leads back to where it started never reaches a smaller value.
IN_PLACE = frozenset({"allOf", "anyOf", "oneOf", "not", "if", "then", "else", "dependentSchemas", "extends",
                      "disallow"})
# Keywords whose values are data, never schemas: walkers do not look inside them.
DATA = frozenset({"enum", "const", "default", "examples"})


def subschemas(node: dict[str, Any]) -> Iterator[tuple[Path, Any]]:
    """Each subschema location of ``node`` (relative path, value), in the table's order.

    Values are what the schema holds there: dicts, booleans, or anything else a broken schema has.
    ``dependencies`` (up to draft-07) maps names to a subschema or to a list of names: only the
    subschemas are yielded.
    """
    for key in SINGLE:
        value = node.get(key)
        if isinstance(value, (dict, bool)):
            yield (key,), value
    for key in MAPS:
        value = node.get(key)
        if isinstance(value, dict):
            yield from (((key, name), sub) for name, sub in value.items())
    for key in LISTS:
        value = node.get(key)
        if isinstance(value, list):
            yield from (((key, i), sub) for i, sub in enumerate(value) if isinstance(sub, (dict, bool)))
    deps = node.get("dependencies")
    if isinstance(deps, dict):
        yield from ((("dependencies", name), sub) for name, sub in deps.items() if isinstance(sub, (dict, bool)))


def in_place(node: dict[str, Any]) -> Iterator[tuple[Path, dict[str, Any]]]:
    """The object subschemas that ``node`` applies to its own instance (allOf, anyOf, not, if, ...)."""
    for path, sub in subschemas(node):
        if path[0] in IN_PLACE and isinstance(sub, dict):
            yield path, sub


def map_subschemas(node: dict[str, Any], apply: Callable[[Any, str], Any]) -> dict[str, Any]:
    """A copy of ``node`` with each subschema replaced by ``apply(subschema, keyword)``; the rest as it is."""
    out = dict(node)
    for key, value in node.items():
        if key in MAPS and isinstance(value, dict):
            out[key] = {name: apply(sub, key) for name, sub in value.items()}
        elif key in LISTS and isinstance(value, list):
            out[key] = [apply(sub, key) if isinstance(sub, (dict, bool)) else sub for sub in value]
        elif key in SINGLE and isinstance(value, (dict, bool)):
            out[key] = apply(value, key)
    return out


def json_pointer(path: Any) -> str:
    """The JSON pointer of a path (``/`` for the root)."""
    parts = [str(p) for p in path]
    return "/" + "/".join(parts) if parts else "/"
