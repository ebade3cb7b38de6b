"""The benchmark orchestrator: scenarios in fresh processes, one after another, then a table and JSON.

Scenarios (a ``:startup`` suffix measures start-up only):

- ``library``   liftinfer's library path with the chosen toggles
- ``cold``      the library path with ``compile-cache`` on an emptied cache root (a start with no caches)
- ``primed``    the library path with ``compile-cache`` on the root ``cold`` (or ``cache prime``) filled
- ``eager``     the library path with the ``eager`` toggle (and ``compile-cache``, for FlashInfer's JIT)
- ``http``      ``liftinfer serve`` in a subprocess, the same requests sent concurrently over HTTP
- ``http-two-loops`` the same with ``shared_loop`` off: the engine on its own loop thread, a hop per request
- ``raw``       raw vLLM (``LLM.generate``) with liftinfer's engine settings, caches from the same root
- ``raw-async`` raw vLLM's ``AsyncLLM`` (concurrent ``generate`` calls) with liftinfer's engine settings
- ``raw-default`` raw vLLM with vLLM's defaults for ``LLM`` and for structured outputs
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from liftinfer.bench.workload import SCHEMA, batch_report, is_valid, percentile, prompts
from liftinfer.config import EngineConfig
from liftinfer.errors import ConfigError

SCENARIOS = ("library", "cold", "primed", "eager", "http", "http-two-loops", "raw", "raw-async", "raw-default")
# the library path's scenarios and the toggles each adds; eager keeps the compile root too: it skips
# torch.compile, not FlashInfer's JIT
LIBRARY_TOGGLES = {"library": [], "cold": ["compile-cache"], "primed": ["compile-cache"],
                   "eager": ["eager", "compile-cache"]}


@dataclass
class BenchPlan:
    backend: str
    model: str
    n: int = 64
    max_tokens: int = 256
    rounds: int = 1
    free_rounds: int | None = None  # unconstrained batches before the constrained ones (None: as many)
    toggles: list[str] = field(default_factory=list)
    options: dict[str, Any] = field(default_factory=dict)
    compile_root: Path = field(default_factory=lambda: Path(tempfile.gettempdir()) / "liftinfer-bench-compile")
    home: Path | None = None  # a scratch HOME, so no default cache dir leaks between scenarios
    profile_dir: Path | None = None  # py-spy samples of the HTTP server during the measured rounds
    timeout_s: float = 900.0
    extra_config: dict[str, Any] = field(default_factory=dict)

    def config(self, toggles: list[str]) -> dict[str, Any]:
        return {"backend": self.backend, "model": self.model, "toggles": toggles,
                "engine_options": self.options, "compile_cache_dir": str(self.compile_root), **self.extra_config}


def _env(plan: BenchPlan, extra: dict[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("LIFTINFER_TOGGLES", None)
    env["PYTHONUNBUFFERED"] = "1"
    if plan.home is not None:
        env["HOME"] = str(plan.home)
        env.pop("XDG_CACHE_HOME", None)
    env.update(extra or {})
    return env


def _worker(plan: BenchPlan, spec: dict[str, Any], env: dict[str, str]) -> dict[str, Any]:
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "liftinfer.bench.worker", json.dumps(spec)], env=env,
                          stdout=subprocess.PIPE, stderr=None, text=True, timeout=plan.timeout_s)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    if not lines:
        return {"error": f"worker exited with {proc.returncode} and no result", "wall_s": time.perf_counter() - start}
    return json.loads(lines[-1][len("RESULT "):])


def raw_engine_kwargs(plan: BenchPlan, default_structured: bool) -> dict[str, Any]:
    from liftinfer.backends.vllm import engine_kwargs
    from liftinfer.engine.cache import CacheRoot
    from liftinfer.pluginmanager import get_plugins
    from liftinfer.sources import ensure_hf_dir, resolve_model

    config = EngineConfig(**plan.config([]))
    model = resolve_model(config.model, CacheRoot(config.cache_dir), get_plugins().model_sources())
    kwargs = engine_kwargs(config, dict(plan.options), str(ensure_hf_dir(model, CacheRoot(config.cache_dir))))
    kwargs.pop("disable_log_stats", None)
    if default_structured:
        kwargs.pop("structured_outputs_config")
    return kwargs


def run_scenario(plan: BenchPlan, name: str) -> dict[str, Any]:
    from liftinfer.toggles.compile_cache import cache_environment

    base, _, suffix = name.partition(":")
    startup_only = suffix == "startup"
    if base not in SCENARIOS:
        raise ConfigError(f"unknown scenario {base!r}; known: {', '.join(SCENARIOS)}")
    common = {"n": plan.n, "max_tokens": plan.max_tokens, "rounds": plan.rounds, "free_rounds": plan.free_rounds,
              "startup_only": startup_only}
    if base == "cold":
        shutil.rmtree(plan.compile_root, ignore_errors=True)
    if base in LIBRARY_TOGGLES:
        spec = {"mode": "library", "config": plan.config([*plan.toggles, *LIBRARY_TOGGLES[base]]), **common}
        return _worker(plan, spec, _env(plan))
    if base in ("raw", "raw-async", "raw-default"):
        spec = {"mode": "raw-async" if base == "raw-async" else "raw", "same_settings": base == "raw",
                "engine": raw_engine_kwargs(plan, base == "raw-default"), **common}
        return _worker(plan, spec, _env(plan, cache_environment(plan.compile_root)))
    return run_http(plan, base)


def run_http(plan: BenchPlan, name: str = "http") -> dict[str, Any]:
    """``liftinfer serve`` with compile-cache on the bench root; requests sent concurrently over HTTP."""
    import socket

    from liftinfer.targets.common import engine_environment

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config = EngineConfig(**plan.config([*plan.toggles, "compile-cache"]))
    cmd = [sys.executable, "-m", "liftinfer", "serve", "--port", str(port), "--backend", config.backend,
           "--model", config.model, "--no-warmup", *[a for t in config.toggles for a in ("--toggle", t)],
           *[a for k, v in plan.options.items() for a in ("--option", f"{k}={json.dumps(v)}")]]
    env = _env(plan, engine_environment({"compile_cache_dir": str(plan.compile_root), **plan.extra_config},
                                        {"shared_loop": name != "http-two-loops"}))
    profiled = _profiler(cmd, plan.profile_dir / f"{name}-server.txt") if plan.profile_dir is not None else None
    start = time.perf_counter()
    # its own session: a profiled server runs under py-spy, and Ctrl-C to the group stops both cleanly
    server = subprocess.Popen(profiled or cmd, env=env, start_new_session=True)
    try:
        return asyncio.run(_http_load(plan, f"http://127.0.0.1:{port}", start, server))
    finally:
        with contextlib.suppress(ProcessLookupError):
            if profiled:
                os.killpg(server.pid, signal.SIGINT)  # py-spy writes its samples; serve drains and exits 0
            else:
                server.terminate()
        try:
            server.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()


def _profiler(cmd: list[str], out: Path) -> list[str] | None:
    """``cmd`` under py-spy (every thread and subprocess, collapsed stacks to ``out``); None without py-spy."""
    exe = shutil.which("py-spy")
    if exe is None:
        print("bench: --profile needs py-spy on PATH (pip install py-spy); not profiling", file=sys.stderr)
        return None
    out.parent.mkdir(parents=True, exist_ok=True)
    return [exe, "record", "--rate", "250", "--format", "raw", "--threads", "--subprocesses", "--nonblocking",
            "--output", str(out), "--", *cmd]


async def _http_load(plan: BenchPlan, url: str, start: float, server: subprocess.Popen[bytes]) -> dict[str, Any]:
    import httpx

    statuses: set[int] = set()
    # One client (with its own keep-alive connection) per concurrent user: a single httpx pool shared by
    # all of them staggers a second batch by about one request's time, which measured httpx, not us.
    clients = [httpx.AsyncClient(timeout=plan.timeout_s) for _ in range(plan.n)]
    try:
        while True:
            if server.poll() is not None:
                return {"error": f"server exited with {server.returncode} before it was ready"}
            try:
                health = (await clients[0].get(f"{url}/health")).json()
                if health.get("ready"):
                    break
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.25)
        ready_s = time.perf_counter() - start

        def bodies(batch: list[str]) -> list[dict[str, Any]]:
            return [{"prompt": p, "schema": SCHEMA, "max_tokens": plan.max_tokens} for p in batch]

        warm = bodies(prompts(2))
        await asyncio.gather(*(c.post(f"{url}/generate", json=b) for c, b in zip(clients[:2], warm, strict=True)))

        async def one(client: httpx.AsyncClient, body: dict[str, Any]) -> tuple[float, httpx.Response]:
            t = time.perf_counter()
            response = await client.post(f"{url}/generate", json=body)
            return (time.perf_counter() - t) * 1000, response

        rounds, outside = [], []
        for r in range(plan.rounds):
            batch = bodies(prompts(plan.n, r * plan.n))
            t0 = time.perf_counter()
            done = await asyncio.gather(*(one(c, b) for c, b in zip(clients, batch, strict=True)))
            elapsed = time.perf_counter() - t0
            answers = [(ms, resp.status_code, resp.json()) for ms, resp in done]
            statuses.update(status for _, status, _ in answers)
            ok = [(ms, body) for ms, status, body in answers if status == 200]
            # outputs refused as invalid (422 output_invalid) were generated all the same: their tokens count
            rejected = sum(body["error"]["details"].get("completion_tokens", 0) for _, status, body in answers
                           if status == 422 and body["error"]["type"] == "output_invalid")
            # a request's time outside the engine: HTTP both ways, the server's parsing and answering
            outside += [ms - b["timings"]["total_ms"] for ms, b in ok]
            rounds.append({"s": elapsed, "tokens": sum(b["usage"]["completion_tokens"] for _, b in ok) + rejected,
                           "valid": sum(is_valid(b["text"]) for _, b in ok), "latencies": [ms for ms, _ in done]})
    finally:
        await asyncio.gather(*(c.aclose() for c in clients))
    report = {**batch_report(rounds, plan.n), "status": sorted(statuses)}
    if outside:
        report["outside_engine_ms"] = {"p50": round(percentile(outside, 50), 1),
                                       "p99": round(percentile(outside, 99), 1)}
    return {"ready_s": round(ready_s, 2), "startup": health.get("startup", {}), "json": report}


def machine() -> dict[str, Any]:
    info: dict[str, Any] = {"host": platform.node(), "cpu_count": os.cpu_count(), "python": platform.python_version(),
                            "date": time.strftime("%Y-%m-%d")}
    try:
        gpu = subprocess.run(["nvidia-smi", "--query-gpu=name,memory.total", "--format=csv,noheader"],
                             capture_output=True, text=True, timeout=20)
        if gpu.returncode == 0:
            info["gpu"] = gpu.stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        pass
    for package in ("vllm", "torch", "transformers", "xgrammar", "llguidance"):
        try:
            from importlib.metadata import version

            info[package] = version(package)
        except Exception:
            pass
    return info


def run(plan: BenchPlan, scenarios: list[str]) -> dict[str, Any]:
    results: dict[str, Any] = {}
    for name in scenarios:
        key, k = name, 1
        while key in results:  # a scenario named twice (e.g. primed, raw, primed) is reported twice
            k += 1
            key = f"{name}#{k}"
        started = time.perf_counter()
        results[key] = run_scenario(plan, name)
        results[key]["wall_s"] = round(time.perf_counter() - started, 2)
    return {"machine": machine(), "plan": {"backend": plan.backend, "model": plan.model, "n": plan.n,
                                           "max_tokens": plan.max_tokens, "rounds": plan.rounds,
                                           "free_rounds": plan.free_rounds, "toggles": plan.toggles,
                                           "options": plan.options},
            "results": results, "pooled": pooled(results)}


def pooled(results: dict[str, Any]) -> dict[str, Any]:
    """Each scenario's constrained figures over all its runs (``primed``, ``primed#2``, ...), and its
    tokens/s over raw vLLM's (``raw``) pooled the same way: repeating scenarios interleaved in one bench
    (raw, primed, raw, primed, ...) is how a ratio survives the drift between processes."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for key, result in results.items():
        measured = result.get("json")
        if measured and measured.get("rounds"):
            groups.setdefault(key.partition("#")[0], []).append(measured)
    out: dict[str, Any] = {}
    for name, runs in groups.items():
        seconds = sum(m["s"] * m["rounds"] for m in runs)
        tokens = sum(m["tokens"] for m in runs)
        rates, batches = [m["tok_per_s"] for m in runs], sum(m["rounds"] for m in runs)
        out[name] = {"processes": len(runs), "rounds": batches, "tokens": tokens,
                     "tok_per_s": round(tokens / seconds, 1) if seconds else 0.0, "s": round(seconds / batches, 3),
                     "valid": sum(m["valid"] for m in runs), "n": sum(m["n"] for m in runs),
                     "process_tok_per_s": [min(rates), max(rates)]}
    raw = out.get("raw", {}).get("tok_per_s")
    for name, entry in out.items():
        if raw and name != "raw":
            entry["vs_raw"] = round(entry["tok_per_s"] / raw, 3)
    return out


def table_rows(report: dict[str, Any]) -> list[list[str]]:
    rows = []
    for name, r in report["results"].items():
        startup = r.get("startup") or {}
        ready = r.get("ready_s", "")
        engine_s = startup.get("engine_start_ms", startup.get("total_ms"))
        free, js = r.get("free") or {}, r.get("json") or {}
        phases = [startup.get(f"{p}_ms") for p in ("load_weights", "torch_compile", "graph_capture")]
        if phases[1] is None:
            phases[1] = startup.get("compile_cache_load_ms")
        rows.append([name, f"{ready}", f"{engine_s / 1000:.1f}" if engine_s else str(r.get("startup_s", "")),
                     *(f"{ms / 1000:.1f}" if ms is not None else "" for ms in phases),
                     str(free.get("tok_per_s", "")), str(js.get("tok_per_s", "")), str(js.get("s", "")),
                     f"{js.get('valid', '')}/{js.get('n', '')}" if js else "", str(js.get("p50_ms", "")),
                     str(js.get("p99_ms", "")), r.get("error", "")])
    return rows


COLUMNS = ["scenario", "ready s (process)", "engine s", "weights s", "compile s", "graphs s", "free tok/s",
           "JSON tok/s", "JSON wall s", "valid",
           "p50 ms", "p99 ms", "error"]
