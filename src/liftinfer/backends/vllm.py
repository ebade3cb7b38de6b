"""The production path: vLLM's AsyncLLM on GPUs, with vLLM's structured outputs and liftinfer's checks.

Concurrent requests go straight to one AsyncLLM, so they share its continuous batching (no lock, no
synchronous ``LLM``). liftinfer still checks every schema first and validates every output after;
vLLM compiles and caches the grammars itself. Only vLLM's public API is used: ``AsyncEngineArgs``,
``AsyncLLM.from_engine_args``, ``generate``/``abort``/``sleep``/``wake_up``/``shutdown``,
``SamplingParams`` and ``StructuredOutputsParams``.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import importlib.util
import os
import time
import uuid
from typing import Any

from liftinfer.backends import Backend, cuda_available
from liftinfer.backends.chat import chat_token_ids
from liftinfer.backends.vllm_startup import StartupLog
from liftinfer.config import EngineConfig
from liftinfer.constraints.grammars import prepare_for_xgrammar
from liftinfer.engine.base import Completion, EngineState, GenerationEngine, PreparedRequest
from liftinfer.engine.loop import running_loop
from liftinfer.errors import BackendError, ConfigError, MissingDependency, UnsupportedSchema
from liftinfer.markers import hookimpl
from liftinfer.sources import ensure_hf_dir, resolve_model

# Chosen by measurement on the device (docs/benchmarks.md): with compact JSON, guidance reached 64 valid
# objects on SmolLM2 in about half the wall time of xgrammar's default.
DEFAULT_GRAMMAR_BACKEND = "guidance"
GRAMMAR_BACKENDS = ("xgrammar", "guidance")


def grammar_backend(config: EngineConfig, options: dict[str, Any]) -> str:
    """vLLM's structured-output backend for these settings: the one place it is decided.

    An explicit ``structured_outputs_config`` option's ``backend`` wins over the ``grammar_backend``
    option, which wins over the config; ``auto`` is :data:`DEFAULT_GRAMMAR_BACKEND`.
    """
    explicit = options.get("structured_outputs_config")
    name = ((explicit.get("backend") if isinstance(explicit, dict) else None)
            or options.get("grammar_backend") or config.grammar_backend)
    if name == "auto":
        return DEFAULT_GRAMMAR_BACKEND
    if name not in GRAMMAR_BACKENDS:
        raise ConfigError(f"grammar backend {name!r} is not one of {', '.join(GRAMMAR_BACKENDS)} for vLLM",
                          field="grammar_backend")
    return str(name)


def engine_kwargs(config: EngineConfig, options: dict[str, Any], model_dir: str) -> dict[str, Any]:
    """The AsyncEngineArgs keyword arguments for this configuration (plain data, testable without vLLM).

    Options from toggles and ``--option`` (gpu_memory_utilization, tensor_parallel_size, enforce_eager,
    load_format, ...) go to AsyncEngineArgs as they are; vLLM's own defaults hold for the rest.
    """
    chosen = grammar_backend(config, options)
    options = {k: v for k, v in options.items() if k != "grammar_backend"}
    dtype = "bfloat16" if config.dtype == "auto" else config.dtype
    kwargs: dict[str, Any] = {
        "model": model_dir,
        "tokenizer": model_dir,
        "dtype": dtype,
        "max_model_len": config.max_model_len,
        "disable_log_stats": True,
        "structured_outputs_config": {
            "backend": chosen,
            "disable_any_whitespace": config.compact_json,
        },
    }
    if config.max_batch_size is not None:
        kwargs["max_num_seqs"] = config.max_batch_size
    for key, value in options.items():
        if key == "structured_outputs_config" and isinstance(value, dict):
            kwargs[key] = {**kwargs[key], **value, "backend": chosen}
        else:
            kwargs[key] = value
    return kwargs


def engine_args(kwargs: dict[str, Any]) -> dict[str, Any]:
    """:func:`engine_kwargs` for ``(Async)EngineArgs``, which, unlike ``LLM``, do not turn the structured
    outputs dict into its config class themselves."""
    from vllm.config import StructuredOutputsConfig

    args = dict(kwargs)
    if isinstance(args.get("structured_outputs_config"), dict):
        args["structured_outputs_config"] = StructuredOutputsConfig(**args["structured_outputs_config"])
    return args


def server_usage_context() -> Any:
    """vLLM's server context: its batch defaults for this device (on an H100: 1024 sequences, 8192 tokens per
    step), not AsyncLLM's generic ones (128 and 2048), which cut a batch of 64 short prompts' prefill in two."""
    from vllm.usage.usage_lib import UsageContext

    return UsageContext.OPENAI_API_SERVER


def resolved_settings(vllm_config: Any) -> dict[str, Any]:
    """The engine settings vLLM resolved that decide throughput: the bench's raw vLLM gets the same."""
    scheduler = vllm_config.scheduler_config
    return {"max_num_seqs": scheduler.max_num_seqs, "max_num_batched_tokens": scheduler.max_num_batched_tokens,
            "async_scheduling": scheduler.async_scheduling,
            "max_model_len": vllm_config.model_config.max_model_len,
            "grammar_backend": vllm_config.structured_outputs_config.backend,
            "enforce_eager": vllm_config.model_config.enforce_eager}


def sampling_kwargs(prepared: PreparedRequest, *, compact_xgrammar: bool = False) -> dict[str, Any]:
    """SamplingParams keyword arguments for one request (structured output as a JSON schema)."""
    request = prepared.request
    kwargs: dict[str, Any] = {
        "max_tokens": prepared.max_tokens,
        "temperature": prepared.temperature,
        "top_p": request.top_p,
        "seed": prepared.seed,
        "stop": list(request.stop) if request.stop else None,
    }
    constraint = prepared.constraint
    if constraint is not None:
        # the normalised schema the constraint layer prepared for this engine (drafts, $refs, closed objects)
        schema = constraint.grammar_schema if constraint.grammar_schema is not None else constraint.schema
        if compact_xgrammar:
            schema = prepare_for_xgrammar(schema)
        kwargs["structured_outputs"] = {"json": schema}
    return kwargs


def finish_reason(vllm_reason: str | None, stop_reason: Any) -> str:
    if vllm_reason == "length":
        return "length"
    if isinstance(stop_reason, str):
        return "stop_string"
    return "stop"


class VLLMEngine(GenerationEngine):
    backend_name = "vllm"

    def _load(self) -> None:
        self._startup_log = StartupLog.capture()  # vLLM's log goes to stderr: stdout stays the caller's
        if _cuda_initialised():  # then forked engine processes could not use CUDA: spawn them instead
            os.environ.setdefault("VLLM_WORKER_MULTIPROC_METHOD", "spawn")
        with self.phase("import"):
            try:
                from vllm.engine.arg_utils import AsyncEngineArgs
                from vllm.v1.engine.async_llm import AsyncLLM
            except ImportError as exc:
                raise MissingDependency(exc.name or "vllm", "vllm", "The vLLM backend") from None
        with self.phase("resolve_model"):
            resolved = resolve_model(self.config.model, self.cache, self.plugins.model_sources())
            model_dir = str(ensure_hf_dir(resolved, self.cache))
        self.model_name = resolved.name
        kwargs = engine_kwargs(self.config, self.options, model_dir)
        self.grammar_backend = grammar_backend(self.config, self.options)
        mark = self._startup_log.mark()
        with self.phase("engine_start"):
            self.llm = AsyncLLM.from_engine_args(AsyncEngineArgs(**engine_args(kwargs)),
                                                 usage_context=server_usage_context())
        self.startup.update(self._startup_log.phases(since=mark))
        self.tokenizer = self.llm.get_tokenizer()
        self.settings = resolved_settings(self.llm.vllm_config)
        # As vLLM's own server does once started: the start-up heap (torch, vLLM, the model's Python objects)
        # leaves the collector's view, so that a full collection during serving does not walk all of it.
        gc.collect()
        gc.freeze()

    def grammar_engines(self) -> tuple[str, ...]:
        backend = grammar_backend(self.config, self.options)
        return ("llguidance",) if backend == "guidance" else ("xgrammar",)

    async def _complete(self, prepared: PreparedRequest) -> Completion:
        prompt_ids = chat_token_ids(self.tokenizer, prepared.chat)
        # vLLM would refuse a prompt longer than the context with a ValueError (taken below for a grammar
        # refusal) and cut max_tokens short silently: refuse both here, as the transformers backend does
        prepared.check_fits(len(prompt_ids), self.settings["max_model_len"])  # as vLLM resolved it
        from vllm.sampling_params import RequestOutputKind, SamplingParams, StructuredOutputsParams

        kwargs = sampling_kwargs(prepared, compact_xgrammar=self.grammar_backend == "xgrammar"
                                 and self.config.compact_json)
        if "structured_outputs" in kwargs:
            kwargs["structured_outputs"] = StructuredOutputsParams(**kwargs["structured_outputs"])
        params = SamplingParams(**kwargs, output_kind=RequestOutputKind.FINAL_ONLY)
        prompt = {"prompt_token_ids": prompt_ids}
        request_id = uuid.uuid4().hex
        start = time.perf_counter()
        final = None
        try:
            async for output in self.llm.generate(prompt, params, request_id):
                final = output
        except asyncio.CancelledError:
            await self.llm.abort(request_id)
            raise
        except ValueError as exc:  # vLLM's validation: a schema its grammar backend refuses, a bad value
            raise UnsupportedSchema(f"vLLM ({self.grammar_backend}) refused the request: {exc}") from None
        except Exception as exc:
            if getattr(self.llm, "errored", False):
                self.set_state(EngineState.FAILED, f"vLLM engine died: {exc}")
            raise BackendError(f"vLLM failed: {type(exc).__name__}: {exc}") from None
        if final is None or not final.outputs:
            raise BackendError("vLLM returned no output")
        out = final.outputs[0]
        return Completion(
            text=out.text,
            finish_reason=finish_reason(out.finish_reason, out.stop_reason),
            prompt_tokens=len(final.prompt_token_ids or ()),
            completion_tokens=len(out.token_ids),
            generate_ms=(time.perf_counter() - start) * 1000,
        )

    def sleep(self) -> None:
        """Free GPU memory (weights offloaded, KV cache dropped) until :meth:`wake`; needs enable_sleep_mode."""
        self._run_sync(self.llm.sleep(level=1))

    def wake(self) -> None:
        self._run_sync(self.llm.wake_up())

    def _close(self) -> None:
        llm = getattr(self, "llm", None)
        if llm is None:
            return
        handler, loop = getattr(llm, "output_handler", None), self._bridge.current
        # vLLM stops its engine core before this task, which then logs a scary EngineDeadError traceback on
        # every clean shutdown: stop the task first (only cancel it when closed from its own loop: no waiting).
        if handler is not None and loop is not None:
            if running_loop() is loop:
                handler.cancel()
            else:
                async def stop() -> None:
                    handler.cancel()
                    with contextlib.suppress(BaseException):
                        await handler

                with contextlib.suppress(Exception):
                    asyncio.run_coroutine_threadsafe(stop(), loop).result(timeout=5)
        llm.shutdown()


def _cuda_initialised() -> bool:
    import sys

    torch = sys.modules.get("torch")
    return bool(torch is not None and torch.cuda.is_initialized())


def _unavailable() -> str | None:
    if importlib.util.find_spec("vllm") is None:
        return "vllm is not installed (pip install 'liftinfer[vllm]')"
    if not cuda_available():
        return "no CUDA device"
    return None


def _engine_class() -> type[GenerationEngine]:
    return VLLMEngine


@hookimpl
def liftinfer_register_backends(register: Any) -> None:
    register(Backend(
        name="vllm",
        load=_engine_class,
        description="vLLM AsyncLLM on GPUs: continuous batching, structured outputs",
        unavailable=_unavailable,
    ))
