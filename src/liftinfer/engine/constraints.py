"""From a JSON Schema to an enforced constraint: checks, grammar compilation with a time limit, one cache.

``ConstraintBuilder.build(schema, strict=...)`` returns a ``Constraint`` that carries the compiled grammar
(when the backend decodes with xgrammar itself), the jsonschema validator that checks every output, and the
report of which keywords the grammar enforces and which only validation does.
"""

from __future__ import annotations

import concurrent.futures as cf
import json
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from liftinfer.engine import schema as schemas
from liftinfer.errors import (
    MissingDependency,
    OutputInvalid,
    SchemaError,
    SchemaTooComplex,
    UnsatisfiableSchema,
    UnsupportedSchema,
)

# Keywords xgrammar's JSON-schema converter does not enforce while decoding: outputs are still validated,
# but strict requests that use them are refused.
GRAMMAR_UNENFORCED = frozenset({
    "not", "if", "then", "else", "uniqueItems", "contains", "minContains", "maxContains", "multipleOf",
    "dependentRequired", "dependentSchemas", "dependencies", "unevaluatedProperties", "unevaluatedItems",
})

COMPACT_SEPARATORS = (",", ":")


class GrammarCache:
    """A thread-safe LRU of compiled grammars, bounded in bytes (xgrammar reports each grammar's size)."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._items: OrderedDict[str, tuple[Any, int]] = OrderedDict()
        self._lock = threading.Lock()
        self.bytes = 0
        self.hits = 0
        self.misses = 0
        self.evictions = 0

    def get(self, key: str) -> Any | None:
        with self._lock:
            item = self._items.get(key)
            if item is None:
                self.misses += 1
                return None
            self._items.move_to_end(key)
            self.hits += 1
            return item[0]

    def put(self, key: str, value: Any, size: int) -> None:
        with self._lock:
            if key in self._items:
                return
            if size > self.max_bytes:
                return  # larger than the whole cache: keep it out rather than flush everything
            self._items[key] = (value, size)
            self.bytes += size
            while self.bytes > self.max_bytes:
                _, (_, old) = self._items.popitem(last=False)
                self.bytes -= old
                self.evictions += 1

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self.bytes = 0

    def __len__(self) -> int:
        return len(self._items)

    def stats(self) -> dict[str, int]:
        return {"entries": len(self._items), "bytes": self.bytes, "max_bytes": self.max_bytes,
                "hits": self.hits, "misses": self.misses, "evictions": self.evictions}


@dataclass
class Constraint:
    """A checked schema, its compiled grammar (if any) and the validator every output goes through."""

    schema: dict[str, Any]
    key: str
    grammar: Any = None
    compile_ms: float = 0.0
    cache_hit: bool = False
    enforcement: dict[str, list[str]] = field(default_factory=dict)
    _validator: Any = None

    def verify(self, text: str, finish_reason: str) -> Any:
        """Parse and validate one output; raise OutputInvalid (naming finish_reason) if it does not conform."""
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            cut = " (cut off at max_tokens: raise max_tokens)" if finish_reason == "length" else ""
            raise OutputInvalid(
                f"model output is not complete JSON{cut}: {exc.msg} at char {exc.pos}",
                details={"finish_reason": finish_reason, "text": text[:2000]},
            ) from None
        errors = sorted(self.validator.iter_errors(data), key=lambda e: list(e.absolute_path))
        if errors:
            first = errors[0]
            where = schemas.json_pointer(first.absolute_path)
            raise OutputInvalid(
                f"model output does not validate against the schema at {where}: {first.message}",
                details={"finish_reason": finish_reason, "text": text[:2000],
                         "errors": [f"{schemas.json_pointer(e.absolute_path)}: {e.message}" for e in errors[:10]]},
            )
        return data

    def matcher(self) -> Any:
        """A fresh matcher for one sequence, with ``fill_next_token_bitmask(bitmask, index)``,
        ``accept_token(token_id) -> bool`` and ``is_terminated()``; use with :func:`allocate_bitmask`
        and :func:`apply_bitmask`."""
        if self.grammar is None:
            raise RuntimeError("this constraint was built without a tokenizer: it has no grammar to match")
        return import_xgrammar().GrammarMatcher(self.grammar)

    @property
    def validator(self) -> Any:
        if self._validator is None:
            self._validator = make_validator(self.schema)
        return self._validator


@dataclass
class _Entry:
    """What the cache keeps per canonical schema: the check's report and the compiled grammar."""

    enforcement: dict[str, list[str]]
    grammar: Any
    validator: Any


class ConstraintBuilder:
    """Checks schemas and compiles them with xgrammar, once per canonical schema, within a time limit.

    ``tokenizer_info`` is an ``xgrammar.TokenizerInfo``; without one (a backend that compiles grammars
    itself, like vLLM) the builder checks schemas and validates outputs but compiles nothing. A cache hit
    skips both the checks and the compilation.
    """

    def __init__(
        self,
        tokenizer_info: Any = None,
        *,
        cache_bytes: int = 256 * 2**20,
        compile_timeout_s: float = 10.0,
        compact: bool = True,
        compile_workers: int = 2,
    ) -> None:
        self.cache = GrammarCache(cache_bytes)
        self.compile_timeout_s = compile_timeout_s
        self.compact = compact
        self._compiler = None
        if tokenizer_info is not None:
            xgr = import_xgrammar()
            self._compiler = xgr.GrammarCompiler(tokenizer_info, cache_enabled=False)
        # A runaway compilation cannot be interrupted; bounded workers keep it from taking the process.
        self._pool = cf.ThreadPoolExecutor(compile_workers, thread_name_prefix="liftinfer-compile")
        self._inflight: dict[str, cf.Future[_Entry]] = {}
        self._too_slow: OrderedDict[str, None] = OrderedDict()
        self._lock = threading.Lock()

    def key(self, schema: dict[str, Any]) -> str:
        return schemas.schema_key(schema, compact=self.compact)

    def build(self, schema: dict[str, Any], *, strict: bool = True) -> Constraint:
        """Check the schema and return its constraint, compiled (or taken from the cache)."""
        start = time.perf_counter()
        key = self.key(schema)
        entry = self.cache.get(key)
        hit = entry is not None
        if entry is None:
            entry = self._entry(key, schema)
        relaxed = entry.enforcement["validation_only"]
        if strict and relaxed:
            raise UnsupportedSchema(
                f"schema uses {', '.join(repr(k) for k in relaxed)}, which no grammar enforces while "
                'decoding; send "strict": false to generate anyway and validate the output afterwards',
                details={"keywords": relaxed},
            )
        return Constraint(schema=schema, key=key, grammar=entry.grammar, cache_hit=hit,
                          compile_ms=(time.perf_counter() - start) * 1000,
                          enforcement=entry.enforcement, _validator=entry.validator)

    def _entry(self, key: str, schema: dict[str, Any]) -> _Entry:
        if key in self._too_slow:
            raise self._timeout_error()
        with self._lock:
            future = self._inflight.get(key)
            started = future is None
            if future is None:  # one compilation per schema, however many requests wait for it
                future = self._pool.submit(self._make, schema)
                self._inflight[key] = future
        if started:  # outside the lock: the callback runs at once if the compilation already ended
            future.add_done_callback(lambda _f: self._forget(key))
        try:
            entry = future.result(timeout=self.compile_timeout_s)
        except cf.TimeoutError:
            with self._lock:
                self._too_slow[key] = None
                while len(self._too_slow) > 1024:
                    self._too_slow.popitem(last=False)
            raise self._timeout_error() from None
        size = len(schemas.canonical_json(schema))
        if entry.grammar is not None:
            size += int(entry.grammar.memory_size_bytes)
        self.cache.put(key, entry, size)
        return entry

    def _make(self, schema: dict[str, Any]) -> _Entry:
        enforcement = check(schema)
        grammar = self._compile(schema) if self._compiler is not None else None
        return _Entry(enforcement, grammar, make_validator(schema))

    def _forget(self, key: str) -> None:
        with self._lock:
            self._inflight.pop(key, None)

    def _timeout_error(self) -> SchemaTooComplex:
        return SchemaTooComplex(
            f"grammar compilation took longer than the {self.compile_timeout_s:g} s limit",
            details={"limit_s": self.compile_timeout_s},
        )

    def _compile(self, schema: dict[str, Any]) -> Any:
        assert self._compiler is not None
        options: dict[str, Any] = {"strict_mode": True}
        if self.compact:
            options.update(any_whitespace=False, separators=COMPACT_SEPARATORS)
        try:
            return self._compiler.compile_json_schema(json.dumps(schema), **options)
        except RuntimeError as exc:
            message = str(exc).strip().splitlines()[-1]
            message = message.split(": ", 1)[1] if message.startswith("[") and ": " in message else message
            if "cannot accept any value" in message or "greater than" in message or "must not be empty" in message:
                raise UnsatisfiableSchema(f"schema is unsatisfiable: {message}") from None
            raise SchemaError(f"schema cannot be compiled to a grammar: {message}") from None

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


def check(schema: dict[str, Any]) -> dict[str, list[str]]:
    """Check a schema; return which keywords the grammar enforces and which only validation does."""
    schemas.check_meta_schema(schema)
    schemas.check_refs(schema)
    schemas.check_satisfiable(schema)
    used = schemas.keywords_used(schema)
    return {"grammar": sorted(used - GRAMMAR_UNENFORCED), "validation_only": sorted(used & GRAMMAR_UNENFORCED)}


def make_validator(schema: dict[str, Any]) -> Any:
    from jsonschema.validators import Draft202012Validator, validator_for

    cls = validator_for(schema, default=Draft202012Validator)
    return cls(schema, format_checker=cls.FORMAT_CHECKER)


def allocate_bitmask(batch: int, vocab_size: int) -> Any:
    """A token bitmask for ``batch`` sequences (a torch int32 tensor, one bit per token)."""
    return import_xgrammar().allocate_token_bitmask(batch, vocab_size)


def apply_bitmask(logits: Any, bitmask: Any) -> None:
    """Set the logits of disallowed tokens to -inf, in place; rows of ``bitmask`` match rows of ``logits``."""
    import_xgrammar().apply_token_bitmask_inplace(logits, bitmask.to(logits.device))


def import_xgrammar() -> Any:
    try:
        import xgrammar
    except ImportError:
        raise MissingDependency("xgrammar", "cpu", "Grammar-constrained decoding") from None
    return xgrammar
