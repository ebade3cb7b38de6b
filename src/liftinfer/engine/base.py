"""GenerationEngine: validate -> constrain -> generate -> verify, the same for every backend.

A backend subclasses :class:`GenerationEngine` and implements ``_load`` and ``_complete`` (plus
``tokenizer_info`` when liftinfer should compile xgrammar grammars for it). Everything else here is
shared: limits, the grammar cache, post-validation, retries, warm-up, health and the event loop that
lets synchronous callers, the HTTP server and batch calls share one engine.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Coroutine, Iterable, Iterator
from dataclasses import dataclass, field
from enum import Enum
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from pydantic import BaseModel, ValidationError

from liftinfer.config import EngineConfig
from liftinfer.constraints.builder import Constraint, ConstraintBuilder
from liftinfer.constraints.grammars import ENGINE_ORDER
from liftinfer.constraints.limits import UNSERIALISABLE, CheckedSchemas, check_request_limits
from liftinfer.engine.cache import CacheRoot, seed_compile_caches
from liftinfer.engine.loop import EngineLoop
from liftinfer.engine.request import GenerateRequest, GenerateResult, Timings, Usage
from liftinfer.errors import (
    LiftinferError,
    NotReady,
    OutputInvalid,
    Overloaded,
    RequestError,
    request_error_from,
)
from liftinfer.version import __version__

if TYPE_CHECKING:
    from liftinfer.pluginmanager import Plugins

T = TypeVar("T")

WARMUP_SCHEMA = {"type": "object", "properties": {"ok": {"type": "boolean"}}, "required": ["ok"],
                 "additionalProperties": False}
# Decoding parameters for the second try of a non-strict request whose first output did not validate.
RETRY_TEMPERATURE = 0.7


@dataclass
class PreparedRequest:
    """A checked request, ready for a backend: its chat, constraint and resolved sampling values."""

    request: GenerateRequest
    constraint: Constraint | None  # None only for unconstrained generation (generate_text_batch)
    max_tokens: int
    temperature: float
    seed: int | None
    submitted: float = field(default_factory=time.perf_counter)

    @property
    def chat(self) -> list[dict[str, str]]:
        return self.request.chat()

    def check_fits(self, prompt_tokens: int, max_model_len: int) -> None:
        """Refuse (400, naming the prompt) a request whose rendered prompt and max_tokens exceed the context."""
        if prompt_tokens + self.max_tokens > max_model_len:
            raise RequestError(
                f"prompt is {prompt_tokens} tokens; with max_tokens {self.max_tokens} it exceeds the "
                f"model's context of {max_model_len} tokens",
                field="messages" if self.request.messages else "prompt",
            )


@dataclass
class Completion:
    """What a backend returns for one request, before validation."""

    text: str
    finish_reason: str  # "stop" (grammar or EOS ended it), "length" (max_tokens), "stop_string"
    prompt_tokens: int
    completion_tokens: int
    queue_ms: float = 0.0
    generate_ms: float = 0.0


class EngineState(str, Enum):
    """Where an engine is in its life; backends change it through :meth:`GenerationEngine.set_state`."""

    CREATED = "created"
    LOADING = "loading"
    READY = "ready"
    FAILED = "failed"
    CLOSED = "closed"

    def __str__(self) -> str:  # as the value in messages and f-strings, on every Python
        return self.value


class GenerationEngine(ABC):
    """One model behind one backend, answering schema-constrained requests."""

    backend_name: ClassVar[str] = "base"

    def __init__(
        self,
        config: EngineConfig | None = None,
        *,
        plugins: Plugins,
        options: dict[str, Any] | None = None,
    ) -> None:
        self.config = config or EngineConfig()
        self.plugins = plugins  # the caller's (load_engine passes the process's): model sources, ready hooks
        self.options = dict(options or {})
        self.cache = CacheRoot(self.config.cache_dir)
        self.model_name = self.config.model
        self.state = EngineState.CREATED
        self.error: str | None = None
        self.startup: dict[str, float] = {}
        self.settings: dict[str, Any] = {}  # what the backend resolved (batch limits, grammar backend, ...)
        self.constraints: ConstraintBuilder | None = None
        self.warmup_report: dict[str, Any] | None = None
        self.toggles: list[str] = []
        self.created_at = time.time()
        self._load_lock = threading.Lock()
        self._warm_lock = threading.Lock()
        self._ready = threading.Event()
        self._bridge = EngineLoop()
        self._admitted = 0
        self._checked_schemas = CheckedSchemas()

    # ---- for backends -------------------------------------------------------------------------------

    @abstractmethod
    def _load(self) -> None:
        """Load the model (record phases with ``self.phase(name)``); set ``self.model_name``."""

    @abstractmethod
    async def _complete(self, prepared: PreparedRequest) -> Completion:
        """Generate one output under ``prepared.constraint``; runs on the engine's event loop."""

    def tokenizer_info(self) -> Any:
        """The xgrammar TokenizerInfo liftinfer compiles grammars for; None if the backend compiles its own."""
        return None

    def grammar_engines(self) -> tuple[str, ...] | None:
        """The grammar engines this backend decodes with ("xgrammar", "llguidance"); None for all of them.

        A backend that compiles its own grammars (vLLM) names the one it uses, so that the schema it is
        handed (``Constraint.grammar_schema``) and the enforcement report fit that engine.
        """
        return None

    def _close(self) -> None:
        """Release the model."""

    def sleep(self) -> None:
        """Free accelerator memory but keep the process (vLLM sleep mode); a no-op where unsupported."""

    def wake(self) -> None:
        """Undo :meth:`sleep`; a no-op where unsupported."""

    @contextlib.contextmanager
    def phase(self, name: str) -> Iterator[None]:
        """Time one start-up phase; it shows in ``health()['startup']`` as ``<name>_ms``."""
        start = time.perf_counter()
        try:
            yield
        finally:
            self.startup[f"{name}_ms"] = round((time.perf_counter() - start) * 1000, 1)

    # ---- lifecycle ----------------------------------------------------------------------------------

    @property
    def ready(self) -> bool:
        return self._ready.is_set()

    def set_state(self, state: EngineState, error: str | None = None) -> None:
        """Move the engine to ``state`` (with the reason, for ``failed``); only ``ready`` takes requests."""
        self.state, self.error = state, error
        if state is EngineState.READY:
            self._ready.set()
        else:
            self._ready.clear()

    def load(self) -> GenerationEngine:
        """Load the model and the constraint layer; safe to call again and from several threads."""
        with self._load_lock:
            if self.ready:
                return self
            if self.state is EngineState.CLOSED:
                raise NotReady("the engine is closed")
            self.set_state(EngineState.LOADING)
            start = time.perf_counter()
            try:
                if self.config.compile_cache_seed is not None:
                    with self.phase("seed_compile_caches"):
                        seed_compile_caches(self.config.compile_cache_seed, self.config.compile_root)
                self._load()
                with self.phase("tokenizer_info"):
                    info = self.tokenizer_info()
                self.constraints = ConstraintBuilder(
                    info,
                    cache_bytes=self.config.grammar_cache_bytes,
                    compile_timeout_s=self.config.compile_timeout_s,
                    compact=self.config.compact_json,
                    engines=self.grammar_engines() or ENGINE_ORDER,
                )
            except BaseException as exc:
                self.set_state(EngineState.FAILED,
                               exc.message if isinstance(exc, LiftinferError) else f"{type(exc).__name__}: {exc}")
                raise
            self.startup["total_ms"] = round((time.perf_counter() - start) * 1000, 1)
            self.set_state(EngineState.READY)
        self.plugins.engine_ready(self)
        return self

    def wait_ready(self, timeout: float | None = None) -> bool:
        return self._ready.wait(timeout)

    def close(self) -> None:
        """Release the model and the engine's threads; further requests fail with 503."""
        if self.state is EngineState.CLOSED:
            return
        self.plugins.engine_shutdown(self)
        self.set_state(EngineState.CLOSED)
        try:
            self._close()
        finally:
            if self.constraints is not None:
                self.constraints.close()
            self._bridge.stop()

    def __enter__(self) -> GenerationEngine:
        return self.load()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- the engine's event loop (engine/loop.py) ----------------------------------------------------

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        """The loop every backend coroutine runs on, whoever the caller is.

        The engine's own, in its own thread, unless :meth:`attach_loop` lent it one (a server's).
        """
        return self._bridge.loop

    def attach_loop(self, loop: asyncio.AbstractEventLoop) -> bool:
        """Run the engine's coroutines on ``loop``, a loop its owner runs (and stops), such as a server's.

        Requests made on that loop then reach the backend without a hop to the engine's thread, and the
        backend's own tasks (vLLM's output handler) run beside the server's. Only an engine whose
        coroutines never ran yet can move (a backend's tasks and queues belong to the loop they started
        on): returns False, and keeps its own loop, otherwise. Synchronous calls
        (``generate``) from other threads still work; from ``loop``'s own thread, use ``agenerate``.
        """
        return self._bridge.attach(loop)

    def detach_loop(self, loop: asyncio.AbstractEventLoop) -> None:
        """Stop using ``loop`` (lent by :meth:`attach_loop`) before its owner closes it.

        An engine that outlives the server (one its caller closes later) then starts a loop of its own when
        next used. Backends with state bound to the old loop (vLLM's) must not be used after this.
        """
        self._bridge.detach(loop)

    def _run_sync(self, coro: Coroutine[Any, Any, T]) -> T:
        return self._bridge.run_sync(coro)

    async def _on_loop(self, coro: Coroutine[Any, Any, T]) -> T:
        return await self._bridge.run(coro)

    # ---- requests -------------------------------------------------------------------------------------

    def generate(
        self,
        prompt: str | None = None,
        *,
        schema: dict[str, Any] | type[BaseModel],
        messages: list[dict[str, str]] | None = None,
        **options: Any,
    ) -> GenerateResult:
        """Generate JSON that validates against ``schema``; loads the model on first use.

        ``options`` are the sampling fields of :class:`GenerateRequest` (max_tokens, temperature, top_p,
        seed, stop, strict). Raises a :class:`LiftinferError` if the request is bad or the output does
        not validate.
        """
        request = make_request(prompt=prompt, schema=schema, messages=messages, **options)
        self.load()
        return self._run_sync(self._agenerate(request))

    async def agenerate(self, request: GenerateRequest) -> GenerateResult:
        """The coroutine form of :meth:`generate`, callable from any event loop."""
        return await self._on_loop(self._agenerate(request))

    def generate_batch(
        self, requests: Iterable[GenerateRequest | dict[str, Any]], *, return_exceptions: bool = True
    ) -> list[GenerateResult | LiftinferError]:
        """Generate for many requests at once (the backend batches them); results keep the input order.

        With ``return_exceptions`` (the default) a failed request yields its error in place of a result;
        otherwise the first error is raised.
        """
        prepared = [r if isinstance(r, GenerateRequest) else make_request(**r) for r in requests]
        self.load()
        return self._run_sync(self._batch(prepared, return_exceptions))

    def generate_text_batch(
        self, prompts: list[str], *, max_tokens: int = 256, temperature: float = 0.0
    ) -> list[Completion]:
        """Unconstrained text for each prompt: the same backend path without a schema or validation.

        For benchmarks (constrained against free tokens/s); structured requests use :meth:`generate`.
        """
        self.load()

        async def run() -> list[Completion]:
            prepared = [PreparedRequest(GenerateRequest(prompt=p, schema_={}), None, max_tokens, temperature, None)
                        for p in prompts]
            return list(await asyncio.gather(*(self._complete(p) for p in prepared)))

        return self._run_sync(run())

    async def _batch(
        self, requests: list[GenerateRequest], return_exceptions: bool
    ) -> list[GenerateResult | LiftinferError]:
        results = await asyncio.gather(*(self._agenerate(r) for r in requests), return_exceptions=True)
        out: list[GenerateResult | LiftinferError] = []
        for item in results:
            if isinstance(item, BaseException) and not isinstance(item, LiftinferError):
                raise item
            if isinstance(item, LiftinferError) and not return_exceptions:
                raise item
            out.append(item)
        return out

    async def _agenerate(self, request: GenerateRequest) -> GenerateResult:
        if not self.ready:
            raise NotReady(f"the engine is {self.state}" + (f": {self.error}" if self.error else ""))
        if self._admitted >= self.config.max_queue:
            raise Overloaded(f"the engine is at its limit of {self.config.max_queue} requests in flight; retry")
        self._admitted += 1
        try:
            return await self._admitted_generate(request)
        finally:
            self._admitted -= 1

    async def _admitted_generate(self, request: GenerateRequest) -> GenerateResult:
        start = time.perf_counter()
        schema = request.json_schema  # once: a pydantic model's schema is generated on each access
        key = self._schema_key(schema)  # once: the limits' memo and the grammar cache share it
        max_tokens = self._check_limits(request, schema, key)
        constraint = await self._constraint(request, schema, key)
        seed, temperature = request.seed, request.temperature
        attempts = 1 if request.strict else 2
        for attempt in range(1, attempts + 1):
            prepared = PreparedRequest(request, constraint, max_tokens, temperature, seed)
            completion = await self._complete(prepared)
            try:
                data = constraint.verify(completion.text, completion.finish_reason)
            except OutputInvalid as exc:
                exc.details["attempts"] = attempt
                exc.details["completion_tokens"] = completion.completion_tokens
                if attempt == attempts or completion.finish_reason == "length":
                    raise
                seed = (seed or 0) + 1
                temperature = temperature or RETRY_TEMPERATURE
                continue
            parsed = self._parse_model(request, data, completion)
            timings = Timings(
                compile_ms=round(constraint.compile_ms, 3),
                queue_ms=round(completion.queue_ms, 3),
                generate_ms=round(completion.generate_ms, 3),
                total_ms=round((time.perf_counter() - start) * 1000, 3),
            )
            return GenerateResult(
                data=data, text=completion.text, finish_reason=completion.finish_reason,
                usage=Usage(prompt_tokens=completion.prompt_tokens,
                            completion_tokens=completion.completion_tokens),
                timings=timings, model=self.model_name, backend=self.backend_name,
                grammar_cache_hit=constraint.cache_hit, attempts=attempt,
                enforcement=constraint.enforcement, parsed=parsed,
            )
        raise AssertionError("unreachable")  # pragma: no cover

    def _schema_key(self, schema: dict[str, Any]) -> str | None:
        """The schema's grammar cache key; None for a schema JSON cannot hold (the limits then say why)."""
        assert self.constraints is not None
        try:
            return self.constraints.key(schema)
        except UNSERIALISABLE:
            return None

    def _check_limits(self, request: GenerateRequest, schema: dict[str, Any], key: str | None) -> int:
        max_tokens = request.max_tokens or min(self.config.default_max_tokens, self.config.max_tokens_limit)
        if max_tokens > self.config.max_tokens_limit:
            raise RequestError(
                f"max_tokens must be at most {self.config.max_tokens_limit} (got {max_tokens})", field="max_tokens"
            )
        chars = request.prompt_chars()
        if chars > self.config.max_prompt_chars:
            raise RequestError(
                f"prompt is {chars} characters; the limit is {self.config.max_prompt_chars}",
                field="messages" if request.messages else "prompt",
            )
        check_request_limits(request, self.config, schema, self._checked_schemas, key)
        return max_tokens

    async def _constraint(self, request: GenerateRequest, schema: dict[str, Any], key: str | None) -> Constraint:
        assert self.constraints is not None
        # A cached grammar is found on the loop: a thread hop per request would stagger a batch's
        # submissions. Checks and compilation may take a while: off the loop, so others keep decoding.
        found = self.constraints.cached(schema, strict=request.strict, key=key)
        if found is not None:
            return found
        return await asyncio.to_thread(self.constraints.build, schema, strict=request.strict, key=key)

    def _parse_model(self, request: GenerateRequest, data: Any, completion: Completion) -> BaseModel | None:
        model = request.model_class
        if model is None:
            return None
        try:
            return model.model_validate(data)
        except ValidationError as exc:
            raise OutputInvalid(
                f"model output validates against the JSON Schema but not the pydantic model: {exc}",
                details={"finish_reason": completion.finish_reason, "text": completion.text[:2000]},
            ) from None

    # ---- warm-up and health -------------------------------------------------------------------------

    def warmup(self) -> dict[str, Any]:
        """Load the model and run one small constrained request; later calls report the first warm-up."""
        with self._warm_lock:
            if self.warmup_report is not None:
                return {**self.warmup_report, "already_warm": True}
            start = time.perf_counter()
            self.load()
            load_ms = (time.perf_counter() - start) * 1000
            result = self.generate("Answer with JSON: is the sky blue?", schema=WARMUP_SCHEMA, max_tokens=16)
            self.warmup_report = {
                "warm": True,
                "load_ms": round(load_ms, 1),
                "request_ms": round(result.timings.total_ms, 1),
                "total_ms": round((time.perf_counter() - start) * 1000, 1),
            }
            return {**self.warmup_report, "already_warm": False}

    def health(self) -> dict[str, Any]:
        return {
            "status": self.state.value,
            "ready": self.ready,
            "warm": self.warmup_report is not None,
            "model": self.model_name,
            "backend": self.backend_name,
            "toggles": list(self.toggles),
            "version": __version__,
            "error": self.error,
            "startup": dict(self.startup),
            "settings": dict(self.settings),
            "uptime_s": round(time.time() - self.created_at, 1),
            "in_flight": self._admitted,
            "max_queue": self.config.max_queue,
            "grammar_cache": self.constraints.cache.stats() if self.constraints else None,
        }


def make_request(**fields: Any) -> GenerateRequest:
    """Build a GenerateRequest, turning pydantic's validation error into a RequestError naming the field."""
    fields = {k: v for k, v in fields.items() if v is not None or k in ("prompt", "schema")}
    try:
        return GenerateRequest(**fields)
    except ValidationError as exc:
        raise request_error(exc) from None


def request_error(exc: ValidationError) -> RequestError:
    return request_error_from(list(exc.errors()))
