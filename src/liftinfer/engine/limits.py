"""What one request may ask of the engine, checked before any pass that recurses over the schema.

jsonschema, the grammar compiler and ``json.dumps`` all recurse: a schema nested thousands of levels deep,
or a ``$ref`` that leads back to itself without consuming any input, ends them with a RecursionError (or
a compilation that never ends); a lone surrogate cannot be hashed or tokenized. These checks walk the
request with explicit stacks, so any request, however hostile, gets a 4xx naming the problem instead.
"""

from __future__ import annotations

import hashlib
import math
import re
import threading
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from liftinfer.engine.schema import canonical_json, iter_subschemas, json_pointer
from liftinfer.errors import RequestError, SchemaError, SchemaTooComplex

if TYPE_CHECKING:
    from liftinfer.config import EngineConfig
    from liftinfer.engine.request import GenerateRequest

Path = tuple[str | int, ...]

# Keywords that apply their subschemas to the same instance: a cycle through these alone never ends.
_IN_PLACE_ONE = ("not", "if", "then", "else")
_IN_PLACE_LIST = ("allOf", "anyOf", "oneOf")
_IN_PLACE_DICT = ("dependentSchemas",)


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
    if refs and isinstance(schema, dict):
        _check_ref_loops(schema)


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


def _check_ref_loops(schema: dict[str, Any]) -> None:
    """Refuse a $ref cycle that never reaches a property or an item: no validator or grammar can end it.

    Recursion through ``properties`` or ``items`` is fine (a tree of nodes); recursion through ``$ref``,
    ``allOf`` and the other keywords that apply to the same value is not. Every such cycle passes through
    a ``$ref``, so the search starts from each one.
    """
    graph = _InPlaceGraph(schema)
    state: dict[Path, str] = {}  # "open" while on the current path, "done" once fully explored
    for start in graph.ref_holders:
        if start[0] in state:
            continue
        state[start[0]] = "open"
        stack = [(start[0], graph.edges(*start))]
        while stack:
            path, edges = stack[-1]
            nxt = next(edges, None)
            if nxt is None:
                state[path] = "done"
                stack.pop()
                continue
            seen = state.get(nxt[0])
            if seen == "open":
                raise SchemaError(
                    f"schema refers to itself without consuming any input: {json_pointer(path)} leads back "
                    f"to {json_pointer(nxt[0])} through $ref, allOf, anyOf, oneOf or not; a recursive "
                    "schema must recurse through properties or items",
                    details={"path": json_pointer(path), "target": json_pointer(nxt[0])},
                )
            if seen is None:
                state[nxt[0]] = "open"
                stack.append((nxt[0], graph.edges(*nxt)))


class _InPlaceGraph:
    """Subschemas as nodes; an edge wherever one applies another to the same value ($ref, allOf, ...)."""

    def __init__(self, root: dict[str, Any]) -> None:
        self.root = root
        base = root.get("$id")
        self.base = base if isinstance(base, str) else ""
        self.ref_holders: list[tuple[Path, dict[str, Any]]] = []
        self.anchors: dict[str, tuple[Path, dict[str, Any]]] = {}
        for sub in iter_subschemas(root):
            if isinstance(sub.schema.get("$ref"), str):
                self.ref_holders.append((sub.path, sub.schema))
            if isinstance(sub.schema.get("$anchor"), str):
                self.anchors.setdefault(sub.schema["$anchor"], (sub.path, sub.schema))

    def edges(self, path: Path, node: dict[str, Any]) -> Iterator[tuple[Path, dict[str, Any]]]:
        ref = node.get("$ref")
        if isinstance(ref, str):
            target = self.resolve(ref)
            if target is not None:
                yield target
        for key in _IN_PLACE_ONE:
            if isinstance(node.get(key), dict):
                yield (*path, key), node[key]
        for key in _IN_PLACE_LIST:
            if isinstance(node.get(key), list):
                yield from (((*path, key, i), v) for i, v in enumerate(node[key]) if isinstance(v, dict))
        for key in _IN_PLACE_DICT:
            if isinstance(node.get(key), dict):
                yield from (((*path, key, k), v) for k, v in node[key].items() if isinstance(v, dict))

    def resolve(self, ref: str) -> tuple[Path, dict[str, Any]] | None:
        """The subschema a same-document $ref points to (JSON pointer or $anchor), or None."""
        if self.base and ref.startswith(self.base):
            ref = ref[len(self.base):]
        if not ref.startswith("#"):
            return None  # another document: check_refs refuses what does not resolve
        fragment = unquote(ref[1:])
        if fragment and not fragment.startswith("/"):
            return self.anchors.get(fragment)
        node: Any = self.root
        path: list[str | int] = []
        for raw in fragment.split("/")[1:]:
            part = raw.replace("~1", "/").replace("~0", "~")
            if isinstance(node, list) and part.isdigit() and int(part) < len(node):
                node = node[int(part)]
                path.append(int(part))
            elif isinstance(node, dict) and part in node:
                node = node[part]
                path.append(part)
            else:
                return None
        return (tuple(path), node) if isinstance(node, dict) else None
