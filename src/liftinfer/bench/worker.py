"""One benchmark scenario in a fresh process; prints ``RESULT {json}`` as its last line.

``python -m liftinfer.bench.worker '{"mode": "library"|"raw", ...}'``
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
import uuid
from collections.abc import Callable, Coroutine
from typing import Any

from liftinfer.bench.workload import SCHEMA, batch_report, is_valid, percentile, prompts


def process_age() -> float:
    """Seconds since this process started (from /proc where it exists, so interpreter start counts)."""
    try:
        with open("/proc/self/stat") as fh:
            start_ticks = int(fh.read().rsplit(")", 1)[1].split()[19])
        with open("/proc/stat") as fh:
            boot = next(int(line.split()[1]) for line in fh if line.startswith("btime"))
        return time.time() - (boot + start_ticks / os.sysconf("SC_CLK_TCK"))
    except (OSError, ValueError, StopIteration):
        return time.perf_counter() - _IMPORTED + 0.05


_IMPORTED = time.perf_counter()


def run_library(spec: dict[str, Any]) -> dict[str, Any]:
    """liftinfer's library path: load_engine, then free and constrained batches."""
    from liftinfer.config import EngineConfig
    from liftinfer.errors import OutputInvalid
    from liftinfer.pluginmanager import load_engine

    config = EngineConfig(**spec.get("config", {}))
    engine = load_engine(config)
    result: dict[str, Any] = {"ready_s": round(process_age(), 2), "startup": dict(engine.startup),
                              "settings": dict(engine.settings), "backend": engine.backend_name,
                              "model": engine.model_name, "toggles": engine.toggles, "options": engine.options}
    if spec.get("startup_only"):
        engine.close()
        return result
    n, max_tokens = spec.get("n", 64), spec.get("max_tokens", 256)
    texts = prompts(2)
    assert engine.constraints is not None
    # A new title is a new cache key: a real miss. The first build in a process also pays one-time
    # imports (jsonschema's format checkers), so it is reported apart from a typical miss.
    timings = []
    for i in range(2):
        titled = {**SCHEMA, "title": f"bench-{time.time_ns()}-{i}"}
        start = time.perf_counter()
        engine.constraints.build(titled)
        timings.append((time.perf_counter() - start) * 1000)
    start = time.perf_counter()
    for _ in range(100):
        engine.constraints.build(titled)
    result["compile_ms"] = {"first": round(timings[0], 3), "miss": round(timings[1], 3),
                            "hit": round((time.perf_counter() - start) * 10, 4)}
    rounds = spec.get("rounds", 1)
    free_rounds, free_count = [], free_round_count(spec)
    if free_count:
        engine.generate_text_batch(texts[:2], max_tokens=max_tokens)  # warm each path, as the probe does
    for r in range(free_count):
        batch = prompts(n, r * n)
        start = time.perf_counter()
        free = engine.generate_text_batch(batch, max_tokens=max_tokens)
        free_rounds.append({"s": time.perf_counter() - start, "tokens": sum(c.completion_tokens for c in free)})
    if free_rounds:
        result["free"] = batch_report(free_rounds, n)
    engine.generate_batch([{"prompt": p, "schema": SCHEMA, "max_tokens": max_tokens} for p in texts[:2]])
    json_rounds, errors, sample, overhead = [], [], None, []
    for r in range(rounds):
        requests = [{"prompt": p, "schema": SCHEMA, "max_tokens": max_tokens} for p in prompts(n, r * n)]
        start = time.perf_counter()
        outs = engine.generate_batch(requests)
        elapsed = time.perf_counter() - start
        good = [o for o in outs if not isinstance(o, Exception)]
        # an output that did not validate was generated all the same: its tokens count, as raw vLLM's do
        rejected = sum(o.details.get("completion_tokens", 0) for o in outs if isinstance(o, OutputInvalid))
        json_rounds.append({"s": elapsed, "tokens": sum(o.usage.completion_tokens for o in good) + rejected,
                            "valid": sum(is_valid(o.text) for o in good),
                            "latencies": [o.timings.total_ms for o in good]})
        errors += [str(o) for o in outs if isinstance(o, Exception)]
        # a request's time in liftinfer outside the backend's queue and generation: checks, grammar lookup,
        # prompt rendering, validation of the output, the result
        overhead += [o.timings.total_ms - o.timings.queue_ms - o.timings.generate_ms for o in good]
        sample = sample or (good[0].text[:200] if good else None)
    result["json"] = {**batch_report(json_rounds, n), "errors": errors[:3], "sample": sample,
                      "overhead_ms": {"p50": round(percentile(overhead, 50), 2),
                                      "p99": round(percentile(overhead, 99), 2)}}
    engine.close()
    return result


def free_round_count(spec: dict[str, Any]) -> int:
    """Unconstrained batches before the constrained ones: ``free_rounds``, else as many as ``rounds``."""
    free = spec.get("free_rounds")
    return spec.get("rounds", 1) if free is None else int(free)


def liftinfer_settings(engine: dict[str, Any]) -> dict[str, Any]:
    """``engine`` with the batch limits liftinfer's backend runs with on this device (vLLM's server
    context), resolved by vLLM itself, so that raw vLLM's ``LLM`` (whose own defaults differ) runs the same."""
    from vllm.engine.arg_utils import EngineArgs

    from liftinfer.backends.vllm import engine_args, resolved_settings, server_usage_context

    settings = resolved_settings(EngineArgs(**engine_args(engine)).create_engine_config(server_usage_context()))
    return {**engine, "max_num_seqs": settings["max_num_seqs"],
            "max_num_batched_tokens": settings["max_num_batched_tokens"]}


def run_raw(spec: dict[str, Any]) -> dict[str, Any]:
    """Raw vLLM, the way ``shared/device/vllm_probe.py`` measures it: ``LLM`` and ``LLM.generate``.

    With ``"same_settings"``, LLM gets liftinfer's batch limits; without, vLLM's defaults for ``LLM``.
    """
    from liftinfer.backends.vllm_startup import StartupLog

    # before vLLM's import: its log leaves stdout (this worker's RESULT line) for the phase parser
    log = StartupLog.capture()
    from vllm import LLM

    engine, problem = spec["engine"], None
    if spec.get("same_settings"):
        try:
            engine = liftinfer_settings(engine)
        except Exception as exc:  # reported beside the figures: then they are not the same settings
            problem = f"could not resolve liftinfer's batch limits: {type(exc).__name__}: {exc}"
    start = time.perf_counter()
    llm = LLM(**engine)
    result = _started(start, log, llm.llm_engine.vllm_config)
    if problem:
        result["settings_error"] = problem
    if not spec.get("startup_only"):
        result.update(raw_batches(spec, llm.get_tokenizer(),
                                  lambda texts, params: llm.generate(texts, params, use_tqdm=False)))
    return result


def run_raw_async(spec: dict[str, Any]) -> dict[str, Any]:
    """Raw vLLM's ``AsyncLLM`` (what liftinfer's backend and vLLM's own server run on) with liftinfer's
    engine settings, the batch sent as concurrent ``generate`` calls: liftinfer's costs, without liftinfer."""
    from liftinfer.backends.vllm_startup import StartupLog

    log = StartupLog.capture()
    from vllm.engine.arg_utils import AsyncEngineArgs
    from vllm.sampling_params import RequestOutputKind
    from vllm.v1.engine.async_llm import AsyncLLM

    from liftinfer.backends.vllm import engine_args, server_usage_context

    start = time.perf_counter()
    llm = AsyncLLM.from_engine_args(AsyncEngineArgs(**engine_args(spec["engine"])),
                                    usage_context=server_usage_context())
    result = _started(start, log, llm.vllm_config)
    if spec.get("startup_only"):
        return result
    loop = asyncio.new_event_loop()  # vLLM starts its output handler on the loop of the first request

    async def one(text: str, params: Any) -> Any:
        final = None
        async for out in llm.generate(text, params, uuid.uuid4().hex):
            final = out
        return final

    def generate(texts: list[str], params: Any) -> list[Any]:
        return gather_on(loop, [one(t, params) for t in texts])

    result.update(raw_batches(spec, llm.get_tokenizer(), generate, output_kind=RequestOutputKind.FINAL_ONLY))
    llm.shutdown()
    return result


def gather_on(loop: asyncio.AbstractEventLoop, coros: list[Coroutine[Any, Any, Any]]) -> list[Any]:
    """Run ``coros`` concurrently to completion on ``loop`` (not running; the thread needs no current loop),
    results in order. ``asyncio.gather`` itself must be called on the loop: outside it, it binds its future
    to the thread's default loop, which ``loop.run_until_complete`` then refuses."""
    async def gather() -> list[Any]:
        return list(await asyncio.gather(*coros))

    return loop.run_until_complete(gather())


def _started(start: float, log: Any, vllm_config: Any) -> dict[str, Any]:
    from liftinfer.backends.vllm import resolved_settings

    return {"startup_s": round(time.perf_counter() - start, 2), "ready_s": round(process_age(), 2),
            "startup": log.phases(), "settings": resolved_settings(vllm_config)}


def raw_batches(spec: dict[str, Any], tokenizer: Any, generate: Callable[[list[str], Any], list[Any]],
                **sampling: Any) -> dict[str, Any]:
    """Free, then constrained batches through ``generate(texts, params)`` (raw vLLM's outputs back)."""
    from vllm import SamplingParams
    from vllm.sampling_params import StructuredOutputsParams

    n, max_tokens = spec.get("n", 64), spec.get("max_tokens", 256)

    def chat(batch: list[str]) -> list[str]:
        return [tokenizer.apply_chat_template([{"role": "user", "content": p}], tokenize=False,
                                              add_generation_prompt=True) for p in batch]

    result: dict[str, Any] = {}
    for kind, count in (("free", free_round_count(spec)), ("json", spec.get("rounds", 1))):
        if not count:
            continue
        structured = StructuredOutputsParams(json=SCHEMA) if kind == "json" else None
        params = SamplingParams(max_tokens=max_tokens, temperature=0.0, structured_outputs=structured, **sampling)
        generate(chat(prompts(2)), params)
        rounds = []
        for r in range(count):
            texts = chat(prompts(n, r * n))  # templated before the clock starts, as the probe does
            start = time.perf_counter()
            outs = generate(texts, params)
            rounds.append({"s": time.perf_counter() - start, "tokens": sum(len(o.outputs[0].token_ids) for o in outs),
                           "valid": sum(is_valid(o.outputs[0].text) for o in outs)})
        result[kind] = {**batch_report(rounds, n), "sample": outs[0].outputs[0].text[:200]}
    return result


def main() -> None:
    spec = json.loads(sys.argv[1])
    runner = {"library": run_library, "raw": run_raw, "raw-async": run_raw_async}[spec["mode"]]
    result = runner(spec)
    print("RESULT " + json.dumps(result), flush=True)
    os._exit(0)  # vLLM's background processes can hold a normal exit for many seconds


if __name__ == "__main__":
    main()
