"""What one request may ask of the engine, checked before any pass that recurses over the schema.

jsonschema, the grammar compiler and ``json.dumps`` all recurse: a schema nested thousands of levels deep,
or a ``$ref`` that leads back to itself without consuming any input, ends them with a RecursionError (or
a compilation that never ends); a lone surrogate cannot be hashed or tokenized. These checks walk the
request with explicit stacks, so any request, however hostile, gets a 4xx naming the problem instead.
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import re
import threading
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from liftinfer.constraints import locations
from liftinfer.constraints.refs import DocumentRefs, Located
from liftinfer.constraints.schema import canonical_json, iter_subschemas, json_pointer
from liftinfer.errors import RequestError, SchemaError, SchemaTooComplex, UnresolvableRef

if TYPE_CHECKING:
    from liftinfer.config import EngineConfig
    from liftinfer.engine.request import GenerateRequest

Path = tuple[str | int, ...]



@dataclass(frozen=True)
class SchemaLimits:
    max_bytes: int
    max_depth: int
    max_refs: int
    max_optional_properties: int = 256

    @classmethod
    def from_config(cls, config: EngineConfig) -> SchemaLimits:
        return cls(config.max_schema_bytes, config.max_schema_depth, config.max_schema_refs,
                   config.max_optional_properties)


def check_request_limits(request: GenerateRequest, config: EngineConfig, schema: Any = None,
                         checked: CheckedSchemas | None = None, key: str | None = None) -> None:
    """Refuse a request whose strings cannot be encoded or whose schema is over a limit or cannot end.

    ``schema`` is the request's JSON Schema where the caller already has it (a pydantic model's schema is
    generated anew on every ``request.json_schema``); ``checked`` remembers the schemas that passed, so
    that a schema sent again is not walked again (``key``: the schema's digest, where the caller has one).
    """
    for field, text in _request_strings(request):
        _check_unicode(text, field)
    schema = request.json_schema if schema is None else schema
    limits = SchemaLimits.from_config(config)
    if checked is None:
        check_schema_limits(schema, limits)
    else:
        checked.check(schema, limits, key)


class CheckedSchemas:
    """The schemas that passed :func:`check_schema_limits` (digests of their canonical JSON, newest kept).

    Most traffic repeats a few schemas: walking one again costs more than everything else a cached request
    does before it reaches the backend (~0.3 ms for a small schema, ~4 ms for 22 KB). The canonical JSON
    is computed first only to look the schema up: a schema too deep for it (RecursionError) or holding
    what JSON cannot (TypeError, ValueError) gets the full check and its clear error.
    """

    def __init__(self, capacity: int = 4096) -> None:
        self.capacity = capacity
        self._passed: OrderedDict[tuple[SchemaLimits, str], None] = OrderedDict()
        self._lock = threading.Lock()

    def check(self, schema: Any, limits: SchemaLimits, digest: str | None = None) -> None:
        """Walk ``schema`` unless it passed these limits before. ``digest`` identifies the schema where the
        caller computed one already (the engine's grammar cache key); else its canonical JSON's sha256."""
        if digest is None:
            digest = schema_digest(schema)
        key = None if digest is None else (limits, digest)
        if key is not None:
            with self._lock:
                if key in self._passed:
                    self._passed.move_to_end(key)
                    return
        check_schema_limits(schema, limits)
        if key is not None:
            with self._lock:
                self._passed[key] = None
                while len(self._passed) > self.capacity:
                    self._passed.popitem(last=False)


# What serialising a schema JSON cannot hold raises: too deep (RecursionError), a value JSON has no form for
# (TypeError), a lone surrogate (ValueError). The full check then says what is wrong.
UNSERIALISABLE = (RecursionError, TypeError, ValueError)


def schema_digest(schema: Any) -> str | None:
    """The sha256 of the schema's canonical JSON; None for a schema JSON cannot hold."""
    try:
        return hashlib.sha256(canonical_json(schema).encode("utf-8")).hexdigest()
    except UNSERIALISABLE:
        return None


def check_schema_limits(schema: Any, limits: SchemaLimits) -> None:
    """Raise SchemaTooComplex (size, depth, $ref count) or SchemaError (NaN, lone surrogate, $ref loop)."""
    _walk(schema, limits.max_depth)
    if isinstance(schema, dict) and "$schema" in schema and not isinstance(schema["$schema"], str):
        raise SchemaError("schema: $schema must be a string, the URI of a meta-schema",
                          details={"path": "/$schema"})
    size = len(canonical_json(schema).encode("utf-8"))  # safe now: the depth is bounded
    if size > limits.max_bytes:
        raise SchemaTooComplex(
            f"schema is {size} bytes; the limit is {limits.max_bytes}",
            details={"bytes": size, "limit": limits.max_bytes},
        )
    subschemas = list(iter_subschemas(schema))
    for sub in subschemas:
        _check_optional_properties(sub.schema, sub.pointer, limits.max_optional_properties)
        _check_patterns(sub.schema, sub.pointer)
    refs = [sub for sub in subschemas if "$ref" in sub.schema]
    if len(refs) > limits.max_refs:
        raise SchemaTooComplex(
            f"schema has {len(refs)} $refs; the limit is {limits.max_refs}",
            details={"refs": len(refs), "limit": limits.max_refs},
        )
    if refs:
        check_ref_loops(schema)


def _check_optional_properties(node: dict[str, Any], pointer: str, limit: int) -> None:
    """Optional properties make the grammar grow faster than linearly: 1600 take xgrammar ~20 s to
    compile, 5000 some minutes, and a compilation cannot be interrupted once started."""
    properties = node.get("properties")
    if not isinstance(properties, dict) or len(properties) <= limit:
        return
    required = node.get("required")
    named = {r for r in required if isinstance(r, str)} if isinstance(required, list) else set()
    optional = len(set(properties) - named)
    if optional > limit:
        raise SchemaTooComplex(
            f"schema object at {pointer} has {optional} optional properties; the limit is {limit} "
            "(list more of them in 'required', or split the object)",
            details={"path": pointer, "optional_properties": optional, "limit": limit},
        )


def _check_patterns(node: dict[str, Any], pointer: str) -> None:
    """Every regular expression compiles: validation would otherwise fail on the first output it reads."""
    patterns = [("pattern", node["pattern"])] if isinstance(node.get("pattern"), str) else []
    if isinstance(node.get("patternProperties"), dict):
        patterns += [("patternProperties", key) for key in node["patternProperties"]]
    for keyword, pattern in patterns:
        try:
            re.compile(pattern)
        except (re.error, OverflowError, RecursionError) as exc:
            raise SchemaError(
                f"schema: {keyword} {pattern!r} at {pointer} is not a valid regular expression: {exc}",
                details={"path": pointer, "pattern": pattern},
            ) from None


def _request_strings(request: GenerateRequest) -> Iterator[tuple[str, str]]:
    if request.prompt is not None:
        yield "prompt", request.prompt
    for i, message in enumerate(request.messages or ()):
        yield f"messages.{i}.content", message.content
    for i, stop in enumerate(request.stop or ()):
        yield f"stop.{i}", stop


def _check_unicode(text: str, field: str, path: Path | None = None) -> None:
    if text.isascii():
        return
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        char = text[exc.start]
        where = "" if path is None else f" at {json_pointer(path)}"  # built only for the error
        message = (f"{field}{where} contains an unpaired surrogate ({char!r}) at character {exc.start}; "
                   "strings must be valid Unicode")
        if field == "schema":
            raise SchemaError(message) from None
        raise RequestError(message, field=field) from None


def _walk(document: Any, max_depth: int) -> None:
    """Bound the nesting depth and refuse what JSON cannot hold (NaN, Infinity, lone surrogates)."""
    stack: list[tuple[Path, Any]] = [((), document)]
    while stack:
        path, node = stack.pop()
        if isinstance(node, float) and not math.isfinite(node):
            shown = "NaN" if math.isnan(node) else "Infinity" if node > 0 else "-Infinity"
            raise SchemaError(
                f"schema holds {shown} at {json_pointer(path)}; JSON has no such number",
                details={"path": json_pointer(path)},
            )
        if isinstance(node, str):
            _check_unicode(node, "schema", path)
            continue
        if not isinstance(node, (dict, list)):
            continue
        if len(path) >= max_depth:
            raise SchemaTooComplex(
                f"schema nests more than {max_depth} levels deep (at {json_pointer(path)}); "
                f"the limit is {max_depth}",
                details={"path": json_pointer(path), "limit": max_depth},
            )
        items = node.items() if isinstance(node, dict) else enumerate(node)
        for key, value in items:
            if isinstance(key, str):
                _check_unicode(key, "schema", path)
            stack.append(((*path, key), value))


def check_ref_loops(schema: Any) -> None:
    """Refuse a $ref cycle that never reaches a property or an item: no validator or grammar can end it.

    Recursion through ``properties`` or ``items`` is fine (a tree of nodes); recursion through ``$ref``,
    ``allOf`` and the other keywords that apply to the same value is not. Every such cycle passes through
    a ``$ref``, so the search starts from each one. References that do not resolve are left to
    ``check_refs``, which names them.
    """
    if not isinstance(schema, dict):
        return
    graph = _InPlaceGraph(schema)
    state: dict[int, str] = {}  # "open" while on the current path, "done" once fully explored
    for start in graph.ref_holders:
        if id(start.schema) in state:
            continue
        state[id(start.schema)] = "open"
        stack = [(start, graph.edges(start))]
        while stack:
            here, edges = stack[-1]
            nxt = next(edges, None)
            if nxt is None:
                state[id(here.schema)] = "done"
                stack.pop()
                continue
            seen = state.get(id(nxt.schema))
            if seen == "open":
                raise SchemaError(
                    f"schema refers to itself without consuming any input: {json_pointer(here.path)} leads back "
                    f"to {json_pointer(nxt.path)} through $ref, allOf, anyOf, oneOf or not; a recursive "
                    "schema must recurse through properties or items",
                    details={"path": json_pointer(here.path), "target": json_pointer(nxt.path)},
                )
            if seen is None:
                state[id(nxt.schema)] = "open"
                stack.append((nxt, graph.edges(nxt)))


class _InPlaceGraph:
    """Subschemas as nodes; an edge wherever one applies another to the same value ($ref, allOf, ...)."""

    def __init__(self, root: dict[str, Any]) -> None:
        from liftinfer.constraints.drafts import REF_OVERRIDES_SIBLINGS, draft_of

        self.refs = DocumentRefs(root)
        self.ref_overrides_siblings = draft_of(root)[0] in REF_OVERRIDES_SIBLINGS
        self.located = {id(found.schema): found for found in self.refs.walk()}
        self.ref_holders = [found for found in self.located.values() if isinstance(found.schema.get("$ref"), str)]

    def edges(self, here: Located) -> Iterator[Located]:
        node = here.schema
        ref = node.get("$ref")
        if isinstance(ref, str):
            with contextlib.suppress(UnresolvableRef):
                target = self.refs.lookup(ref, json_pointer(here.path), here.resolver).contents
                if isinstance(target, dict) and id(target) in self.located:
                    yield self.located[id(target)]
            if self.ref_overrides_siblings:  # up to draft-07 the keywords beside a $ref are not applied
                return
        for rel, sub in locations.in_place(node):
            found = self.located.get(id(sub))
            yield found if found is not None else Located((*here.path, *rel), sub, here.resolver)
