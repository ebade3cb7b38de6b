"""From a JSON Schema to an enforced constraint: checks, a grammar engine chosen per schema, one cache.

``ConstraintBuilder.build(schema, strict=...)`` checks the schema, rewrites it to one dialect
(:mod:`~liftinfer.constraints.drafts`), asks each grammar engine's profile what it would enforce exactly
(:mod:`~liftinfer.constraints.keywords`), and compiles with the first engine that is exact -- xgrammar where it
is, llguidance otherwise (:mod:`~liftinfer.constraints.grammars`). The ``Constraint`` carries the grammar, the
jsonschema validator (for the user's original schema, in its own draft) that checks every output, and the
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

from liftinfer.constraints import drafts, keywords
from liftinfer.constraints import schema as schemas
from liftinfer.constraints.cache import GrammarCache
from liftinfer.constraints.closed import close_objects
from liftinfer.constraints.grammars import (
    COMPACT_SEPARATORS,
    ENGINE_ORDER,
    GrammarRefused,
    XGrammarEngine,
    import_xgrammar,
    make_engines,
)
from liftinfer.constraints.limits import check_ref_loops
from liftinfer.constraints.refs import validation_registry
from liftinfer.errors import (
    OutputInvalid,
    SchemaError,
    SchemaTooComplex,
    UnsatisfiableSchema,
    UnsupportedSchema,
)

__all__ = ["COMPACT_SEPARATORS", "Constraint", "ConstraintBuilder", "GrammarCache", "Plan",
           "allocate_bitmask", "apply_bitmask", "check", "import_xgrammar", "make_validator", "plan"]

# xgrammar's compile time grows with the EBNF it makes of a schema (tens of seconds past ~100k characters
# on a 2-core box); past this size llguidance, which compiles lazily, gets the schema when it is as exact.
XGRAMMAR_MAX_EBNF_CHARS = 40_000


@dataclass
class Constraint:
    """A checked schema, its compiled grammar (if any) and the validator every output goes through.

    ``engine`` names the grammar engine that enforces it ("xgrammar" or "llguidance", also where the
    backend compiles its own grammar, like vLLM); ``grammar_schema`` is the schema that engine compiles
    (normalised, with what it cannot enforce relaxed); ``enforcement`` says which keywords the grammar
    enforces and which only validation does.
    """

    schema: dict[str, Any]
    key: str
    grammar: Any = None
    compile_ms: float = 0.0
    cache_hit: bool = False
    enforcement: dict[str, Any] = field(default_factory=dict)
    engine: str = "xgrammar"
    grammar_schema: Any = None
    _validator: Any = None
    _engine_impl: Any = None

    def verify(self, text: str, finish_reason: str) -> Any:
        """Parse and validate one output; raise OutputInvalid (naming finish_reason) if it does not conform."""
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            cut = " (cut off at max_tokens: raise max_tokens)" if finish_reason == "length" else ""
            raise OutputInvalid(
                f"model output is not complete JSON{cut}: {exc.msg} (character {exc.pos})",
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
        ``accept_token(token_id) -> bool`` and ``is_terminated()`` (plus ``accept_string``, ``rollback``
        and ``is_completed``); use with :func:`allocate_bitmask` and :func:`apply_bitmask`."""
        if self.grammar is None or self._engine_impl is None:
            raise RuntimeError("this constraint was built without a tokenizer: it has no grammar to match")
        return self._engine_impl.matcher(self.grammar)

    @property
    def validator(self) -> Any:
        if self._validator is None:
            self._validator = make_validator(self.schema)
        return self._validator


@dataclass
class Plan:
    """A checked schema and each grammar engine's view of it, best first."""

    draft: str
    candidates: list[keywords.Relaxed]

    @property
    def best(self) -> keywords.Relaxed:
        return self.candidates[0]


def plan(schema: dict[str, Any], engines: tuple[str, ...] = ENGINE_ORDER) -> Plan:
    """Check a schema and rank the grammar engines by how much of it each enforces exactly."""
    if schema is False:
        raise UnsatisfiableSchema("schema is `false`: no value satisfies it")
    if schema is True:
        schema = {}
    schemas.check_meta_schema(schema)
    schemas.check_refs(schema)
    check_ref_loops(schema)
    schemas.check_satisfiable(schema)
    schemas.check_patterns(schema)
    normalised = drafts.normalise(schema)
    checked = frozenset(make_validator(schema).format_checker.checkers)
    views = [keywords.relax(normalised.schema, keywords.PROFILES[name], checked) for name in engines]
    order = {name: i for i, name in enumerate(engines)}
    views.sort(key=lambda v: (sum(len(p) for p in v.validation_only.values()), order[v.engine]))
    return Plan(normalised.draft, views)


def check(schema: dict[str, Any]) -> dict[str, Any]:
    """Check a schema; the best engine's report of what its grammar enforces and what only validation does."""
    return plan(schema).best.report()


@dataclass
class _Entry:
    """What the cache keeps per canonical schema: the engine's view, its compiled grammar, the validator."""

    view: keywords.Relaxed
    grammar: Any
    validator: Any
    grammar_schema: Any = None


class ConstraintBuilder:
    """Checks schemas and compiles them, once per canonical schema, within a time limit.

    ``tokenizer_info`` is an ``xgrammar.TokenizerInfo``; llguidance's tokenizer is made from it, so both
    engines mask the same vocabulary. Without one (a backend that compiles grammars itself, like vLLM)
    the builder checks schemas, picks the engine and validates outputs but compiles nothing. A cache hit
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
        closed_objects: bool = True,
        engines: tuple[str, ...] = ENGINE_ORDER,
    ) -> None:
        self.cache = GrammarCache(cache_bytes)
        self.compile_timeout_s = compile_timeout_s
        self.compact = compact
        # Generation closes objects the schema leaves open (see keywords.close_objects); conformance
        # checks measure the open, JSON Schema grammar with closed_objects=False.
        self.closed_objects = closed_objects
        self._engines: dict[str, Any] = {}
        if tokenizer_info is not None:
            available = make_engines(tokenizer_info)
            self._engines = {name: available[name] for name in engines if name in available}
        self.engine_names = tuple(self._engines) if self._engines else engines
        # A runaway compilation cannot be interrupted; bounded workers keep it from taking the process.
        self._pool = cf.ThreadPoolExecutor(compile_workers, thread_name_prefix="liftinfer-compile")
        # xgrammar compiles in its own pool: when it runs past its share of the limit the schema goes to
        # llguidance, and a pool full of runaways sends every schema there rather than block.
        self._xgrammar_pool = cf.ThreadPoolExecutor(compile_workers, thread_name_prefix="liftinfer-xgrammar")
        self._inflight: dict[str, cf.Future[_Entry]] = {}
        self._too_slow: OrderedDict[str, None] = OrderedDict()
        self._plans: OrderedDict[str, Plan] = OrderedDict()
        self._lock = threading.Lock()
        self._running_xgrammar = 0

    def key(self, schema: dict[str, Any]) -> str:
        return schemas.schema_key(schema, compact=self.compact, closed_objects=self.closed_objects)

    def cached(self, schema: dict[str, Any], *, strict: bool = True, key: str | None = None) -> Constraint | None:
        """The schema's constraint if its grammar is in the cache (microseconds), else ``None``.

        ``key``: the schema's :meth:`key`, where the caller computed it already.
        """
        start = time.perf_counter()
        key = self.key(schema) if key is None else key
        entry = self.cache.get(key, count_miss=False)  # build() counts the miss
        return None if entry is None else self._constraint(schema, key, entry, True, strict, start)

    def build(self, schema: dict[str, Any], *, strict: bool = True, key: str | None = None) -> Constraint:
        """Check the schema and return its constraint, compiled (or taken from the cache); ``key`` as for
        :meth:`cached`."""
        start = time.perf_counter()
        key = self.key(schema) if key is None else key
        entry = self.cache.get(key)
        hit = entry is not None
        if entry is None:
            if strict:
                _refuse_unless_exact(self._plan(key, schema).best)
            entry = self._entry(key, schema)
        return self._constraint(schema, key, entry, hit, strict, start)

    def _constraint(self, schema: dict[str, Any], key: str, entry: _Entry, hit: bool, strict: bool,
                    start: float) -> Constraint:
        if strict:
            _refuse_unless_exact(entry.view)
        return Constraint(schema=schema, key=key, grammar=entry.grammar, cache_hit=hit,
                          compile_ms=(time.perf_counter() - start) * 1000,
                          enforcement=entry.view.report(), engine=entry.view.engine,
                          grammar_schema=entry.grammar_schema, _validator=entry.validator,
                          _engine_impl=self._engines.get(entry.view.engine))

    def _plan(self, key: str, schema: dict[str, Any]) -> Plan:
        with self._lock:
            found = self._plans.get(key)
        if found is None:
            found = plan(schema, self.engine_names)
            with self._lock:
                self._plans[key] = found
                while len(self._plans) > 1024:
                    self._plans.popitem(last=False)
        return found

    def _entry(self, key: str, schema: dict[str, Any]) -> _Entry:
        if key in self._too_slow:
            raise self._timeout_error()
        with self._lock:
            future = self._inflight.get(key)
            started = future is None
            if future is None:  # one compilation per schema, however many requests wait for it
                future = self._pool.submit(self._make, key, schema, time.monotonic() + self.compile_timeout_s)
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
        with self._lock:  # the entry holds what the plan was kept for; the cache bounds it in bytes
            self._plans.pop(key, None)
        return entry

    def _make(self, key: str, schema: dict[str, Any], deadline: float) -> _Entry:
        found = self._plan(key, schema)
        validator = make_validator(schema)
        if not self._engines:
            return _Entry(found.best, None, validator, self._grammar_schema(found.best))
        view, grammar = self._compile_first(found.candidates, deadline)
        return _Entry(view, grammar, validator, self._grammar_schema(view))

    def _grammar_schema(self, view: keywords.Relaxed) -> Any:
        return close_objects(view.schema) if self.closed_objects else view.schema

    def _compile_first(self, candidates: list[keywords.Relaxed], deadline: float) -> tuple[Any, Any]:
        """Compile with the best engine that manages; fall back to the next on refusal, size or time."""
        refusals: list[tuple[str, GrammarRefused]] = []
        usable = [c for c in candidates if c.engine in self._engines]
        for i, view in enumerate(usable):
            engine = self._engines[view.engine]
            as_exact = [c for c in usable[i + 1:] if len(c.validation_only) <= len(view.validation_only)]
            fallback = as_exact[0] if as_exact else None
            try:
                if isinstance(engine, XGrammarEngine):
                    grammar = self._compile_xgrammar(engine, view, deadline, fallback is not None)
                else:
                    grammar = engine.compile(self._grammar_schema(view), compact=self.compact)
            except GrammarRefused as exc:
                refusals.append((view.engine, exc))
                continue
            return view, grammar
        raise _refusal_error(refusals)

    def _compile_xgrammar(self, engine: XGrammarEngine, view: keywords.Relaxed, deadline: float,
                          can_fall_back: bool) -> Any:
        schema = self._grammar_schema(view)
        if can_fall_back and engine.grammar_size(schema, compact=self.compact) > XGRAMMAR_MAX_EBNF_CHARS:
            raise GrammarRefused("the grammar is too large to compile in time", "too_complex")
        future = self._xgrammar_pool.submit(engine.compile, schema, compact=self.compact)
        with self._lock:
            self._running_xgrammar += 1
        future.add_done_callback(self._xgrammar_done)
        share = (deadline - time.monotonic()) * (0.5 if can_fall_back else 1.0)
        try:
            return future.result(timeout=max(share, 0.0))
        except cf.TimeoutError:
            raise GrammarRefused("compilation ran past its share of the time limit", "too_complex") from None

    def _xgrammar_done(self, _future: Any) -> None:
        with self._lock:
            self._running_xgrammar -= 1

    @property
    def abandoned_compilations(self) -> int:
        """xgrammar compilations still running after their request fell back or timed out."""
        with self._lock:
            return self._running_xgrammar

    def _forget(self, key: str) -> None:
        with self._lock:
            self._inflight.pop(key, None)

    def _timeout_error(self) -> SchemaTooComplex:
        return SchemaTooComplex(
            f"grammar compilation took longer than the {self.compile_timeout_s:g} s limit",
            details={"limit_s": self.compile_timeout_s},
        )

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._xgrammar_pool.shutdown(wait=False, cancel_futures=True)


def _refuse_unless_exact(view: keywords.Relaxed) -> None:
    if view.exact:
        return
    names = sorted(view.validation_only)
    where = view.validation_only[names[0]][0]
    raise UnsupportedSchema(
        f"schema uses {', '.join(repr(k) for k in names)} (first at {where}), which no grammar enforces "
        'while decoding; send "strict": false to generate anyway and validate the output afterwards',
        details={"keywords": names, "at": {k: v[:5] for k, v in view.validation_only.items()}},
    )


def _refusal_error(refusals: list[tuple[str, GrammarRefused]]) -> SchemaError:
    """The error for a schema that every grammar engine refused, from the first engine's reason."""
    if not refusals:
        return SchemaError("schema cannot be compiled to a grammar: no grammar engine is available")
    engine, first = refusals[0]
    unsatisfiable = next((r for _, r in refusals if r.kind == "unsatisfiable"), None)
    if unsatisfiable is not None:
        return UnsatisfiableSchema(f"schema is unsatisfiable: {unsatisfiable}")
    if all(refusal.kind == "too_complex" for _, refusal in refusals):
        return SchemaTooComplex(f"schema's grammar is too complex: {first}")
    return SchemaError(f"schema cannot be compiled to a grammar ({engine}): {first}",
                       details={"engines": {e: str(r) for e, r in refusals}})


def make_validator(schema: dict[str, Any]) -> Any:
    """The validator of the schema's own draft, asserting every format jsonschema knows.

    A format a later draft defined means the same in an older schema ({"format": "date"} in a draft-04
    schema still wants a date), so the 2020-12 checks apply too, under the draft's own where both have one.
    """
    from jsonschema import FormatChecker
    from jsonschema.validators import Draft202012Validator, validator_for

    cls = validator_for(schema, default=Draft202012Validator)
    checker = FormatChecker(())
    checker.checkers = {**Draft202012Validator.FORMAT_CHECKER.checkers, **cls.FORMAT_CHECKER.checkers}
    return cls(schema, format_checker=checker, registry=validation_registry())


def allocate_bitmask(batch: int, vocab_size: int) -> Any:
    """A token bitmask for ``batch`` sequences (a torch int32 tensor, one bit per token; both engines)."""
    return import_xgrammar().allocate_token_bitmask(batch, vocab_size)


def apply_bitmask(logits: Any, bitmask: Any) -> None:
    """Set the logits of disallowed tokens to -inf, in place; rows of ``bitmask`` match rows of ``logits``."""
    import_xgrammar().apply_token_bitmask_inplace(logits, bitmask.to(logits.device))
