"""Checks on a JSON Schema before any grammar is built: meta-schema, $refs, obvious unsatisfiability.

Also the walker over subschemas that the other schema passes (keyword reports, limits) share.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from liftinfer.constraints.locations import json_pointer, subschemas
from liftinfer.constraints.refs import DocumentRefs, validation_registry
from liftinfer.errors import SchemaError, UnsatisfiableSchema

# Keywords that say nothing about which instances are valid.
ANNOTATIONS = frozenset({
    "$schema", "$id", "id", "$anchor", "$dynamicAnchor", "$comment", "$vocabulary", "$defs", "definitions",
    "title", "description", "examples", "default", "deprecated", "readOnly", "writeOnly",
    "contentMediaType", "contentEncoding", "contentSchema", "$recursiveAnchor",
})


@dataclass(frozen=True)
class Subschema:
    path: tuple[str | int, ...]
    schema: dict[str, Any]

    @property
    def pointer(self) -> str:
        return json_pointer(self.path)


def iter_subschemas(schema: Any, path: tuple[str | int, ...] = ()) -> Iterator[Subschema]:
    """Every object subschema, depth first, with its path from the root (data under enum/const is skipped)."""
    stack: list[tuple[tuple[str | int, ...], Any]] = [(path, schema)]
    while stack:
        here, node = stack.pop()
        if not isinstance(node, dict):
            continue
        yield Subschema(here, node)
        stack.extend(reversed([((*here, *rel), sub) for rel, sub in subschemas(node)]))


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def schema_key(schema: Any, **options: Any) -> str:
    """A stable hash of a schema and the options it is compiled with: equal schemas share one grammar."""
    return hashlib.sha256(canonical_json({"schema": schema, "options": options}).encode()).hexdigest()


def check_meta_schema(schema: dict[str, Any]) -> None:
    """Raise SchemaError naming the first place where the schema breaks its meta-schema."""
    from jsonschema import exceptions
    from jsonschema.validators import Draft202012Validator, validator_for

    try:
        cls = validator_for(schema, default=Draft202012Validator)
    except exceptions.SchemaError as exc:  # pragma: no cover - raised for unknown $schema in old releases
        raise SchemaError(f"schema: {exc.message}") from None
    best = exceptions.best_match(cls(cls.META_SCHEMA, registry=validation_registry()).iter_errors(schema))
    if best is not None:
        raise SchemaError(
            f"schema is not valid JSON Schema at {json_pointer(best.absolute_path)}: {best.message}",
            details={"path": json_pointer(best.absolute_path)},
        )


def check_refs(schema: dict[str, Any]) -> int:
    """Raise UnresolvableRef for the first reference that does not resolve inside the schema document (none
    is ever fetched); return the number of references."""
    return DocumentRefs(schema).check()


def _bound_conflicts(node: dict[str, Any]) -> str | None:
    pairs = (("minimum", "maximum"), ("minLength", "maxLength"), ("minItems", "maxItems"),
             ("minProperties", "maxProperties"), ("exclusiveMinimum", "maximum"),
             ("minimum", "exclusiveMaximum"), ("exclusiveMinimum", "exclusiveMaximum"))
    for low, high in pairs:
        lo, hi = node.get(low), node.get(high)
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (lo, hi)):
            continue
        strict = low.startswith("exclusive") or high.startswith("exclusive")
        if lo > hi or (strict and lo == hi):  # type: ignore[operator]
            return f"{low} {lo} is not below {high} {hi}"
    return None


def check_satisfiable(schema: Any) -> None:
    """Refuse schemas that no value can satisfy, where that is plain from one subschema.

    Deeper cases (a $ref cycle with no way out, allOf of disjoint types) are left to the grammar compiler,
    whose refusal is reported as well.
    """
    if schema is False:
        raise UnsatisfiableSchema("schema is `false`: no value satisfies it")
    for sub in iter_subschemas(schema):
        node = sub.schema
        why = _bound_conflicts(node)
        if why is None and node.get("enum") == []:
            why = "enum is empty"
        if why is None and node.get("type") == []:
            why = "type is an empty list"
        if why is None and isinstance(node.get("required"), list) and isinstance(node.get("properties"), dict):
            banned = [k for k in node["required"] if node["properties"].get(k) is False]
            if banned:
                why = f"required property {banned[0]!r} is forbidden by `false`"
        if why is None and node.get("additionalProperties") is False and isinstance(node.get("required"), list):
            allowed = set(node.get("properties") or {})
            missing = [k for k in node["required"] if k not in allowed and not node.get("patternProperties")]
            if missing:
                why = f"required property {missing[0]!r} is not allowed by additionalProperties: false"
        if why:
            raise UnsatisfiableSchema(
                f"schema is unsatisfiable at {sub.pointer}: {why}", details={"path": sub.pointer}
            )


def keywords_used(schema: Any) -> set[str]:
    """Every validation keyword that appears in the schema (annotations left out)."""
    used: set[str] = set()
    for sub in iter_subschemas(schema):
        used.update(k for k in sub.schema if k not in ANNOTATIONS)
    return used


def check_patterns(schema: Any) -> None:
    """Raise SchemaError for a regex that validation (Python's ``re``, as jsonschema uses) cannot run.

    ECMAScript has ``\\p{Letter}`` and friends; a pattern that cannot be checked after generation could
    not be guaranteed, so it is refused rather than passed unchecked.
    """
    import re

    for sub in iter_subschemas(schema):
        pattern = sub.schema.get("pattern")
        patterns = [(pattern, "pattern")] if isinstance(pattern, str) else []
        props = sub.schema.get("patternProperties")
        if isinstance(props, dict):
            patterns += [(p, "patternProperties") for p in props]
        for regex, keyword in patterns:
            try:
                re.compile(regex)
            except re.error as exc:
                where = f"{sub.pointer.rstrip('/')}/{keyword}"
                raise SchemaError(
                    f"{keyword} {regex!r} at {where} uses regex syntax that validation cannot check ({exc})",
                    details={"path": where},
                ) from None
