"""Load test: many concurrent clients against a real ``liftinfer serve`` (CPU model) on loopback.

Every client sends requests back to back for ``--duration`` seconds; a 429/503 is honoured by waiting
its Retry-After. Reported: every request's fate (result, overload error, anything else, lost), throughput
and latency percentiles, and whether the server still answers afterwards. Prints a table, writes JSON.

    PYTHONPATH=src python benchmarks/load.py --clients 64 --duration 60 --max-queue 8
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx

MACHINE = "2-core CPU dev box"
DATE = "2026-11-27"
SCHEMA = {"type": "object", "additionalProperties": False, "required": ["answer", "confidence"],
          "properties": {"answer": {"type": "boolean"},
                         "confidence": {"type": "integer", "minimum": 0, "maximum": 9}}}
RESULTS = Path(__file__).parent / "results"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(args: argparse.Namespace, port: int) -> subprocess.Popen[bytes]:
    src = str(Path(__file__).resolve().parents[1] / "src")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([src, os.environ.get("PYTHONPATH", "")]),
           "LIFTINFER_MAX_QUEUE": str(args.max_queue), "LIFTINFER_MAX_BATCH_SIZE": str(args.max_batch_size),
           "LIFTINFER_THREADS": str(args.threads), "LIFTINFER_LOG_LEVEL": "warning"}
    command = [sys.executable, "-m", "liftinfer", "serve", "--backend", "transformers", "--port", str(port)]
    return subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def wait_ready(url: str, proc: subprocess.Popen[bytes], timeout: float = 300) -> float:
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if proc.poll() is not None:
            raise SystemExit(f"server exited: {proc.stderr.read().decode()[-2000:] if proc.stderr else ''}")
        try:
            health = httpx.get(f"{url}/health", timeout=2).json()
            if health["ready"] and health["warm"]:
                return time.monotonic() - start
        except (httpx.TransportError, ValueError):
            pass
        time.sleep(0.2)
    raise SystemExit("server did not become ready")


async def client(http: httpx.AsyncClient, index: int, stop_at: float, log: list[dict[str, Any]]) -> None:
    sent = 0
    while time.monotonic() < stop_at:
        body = {"prompt": f"Client {index}, question {sent}: is the sky blue?", "schema": SCHEMA,
                "max_tokens": 24}
        start = time.monotonic()
        entry: dict[str, Any] = {"client": index}
        try:
            response = await http.post("/generate", json=body)
            entry["status"] = response.status_code
            if response.status_code == 200:
                entry["completion_tokens"] = response.json()["usage"]["completion_tokens"]
            else:
                entry["type"] = response.json()["error"]["type"]
                entry["retry_after"] = response.headers.get("retry-after")
        except httpx.HTTPError as exc:  # no answer at all: counted as lost
            entry["status"] = None
            entry["error"] = type(exc).__name__
        entry["latency_s"] = time.monotonic() - start
        log.append(entry)
        sent += 1
        if entry.get("retry_after"):
            await asyncio.sleep(float(entry["retry_after"]))


async def run_clients(url: str, clients: int, duration: float) -> tuple[list[dict[str, Any]], float]:
    log: list[dict[str, Any]] = []
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=url, timeout=600, limits=limits) as http:
        start = time.monotonic()
        await asyncio.gather(*(client(http, i, start + duration, log) for i in range(clients)))
        return log, time.monotonic() - start


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 3)


def summarise(log: list[dict[str, Any]], elapsed: float) -> dict[str, Any]:
    ok = [e for e in log if e["status"] == 200]
    refused = [e for e in log if e["status"] in (429, 503)]
    latencies = [e["latency_s"] for e in ok]
    return {
        "requests": len(log),
        "by_status": dict(sorted(Counter(str(e["status"]) for e in log).items())),
        "results": len(ok),
        "overload_errors": len(refused),
        "overload_errors_without_retry_after": sum(1 for e in refused if not e.get("retry_after")),
        "other_errors": len(log) - len(ok) - len(refused) - sum(1 for e in log if e["status"] is None),
        "lost": sum(1 for e in log if e["status"] is None),
        "elapsed_s": round(elapsed, 1),
        "throughput_rps": round(len(ok) / elapsed, 3),
        "completion_tokens_per_s": round(sum(e["completion_tokens"] for e in ok) / elapsed, 1),
        "latency_s": {"p50": percentile(latencies, 0.50), "p90": percentile(latencies, 0.90),
                      "p99": percentile(latencies, 0.99), "max": percentile(latencies, 1.0)},
        "overload_answer_s": {"p50": percentile([e["latency_s"] for e in refused], 0.50),
                              "p99": percentile([e["latency_s"] for e in refused], 0.99)},
    }


def after_check(url: str) -> dict[str, Any]:
    health = httpx.get(f"{url}/health", timeout=10).json()
    good = httpx.post(f"{url}/generate", json={"prompt": "Is the sky blue?", "schema": SCHEMA,
                                               "max_tokens": 24}, timeout=300)
    return {"health_ready": health["ready"], "in_flight": health["in_flight"],
            "good_request_status": good.status_code}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=64)
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of load")
    parser.add_argument("--max-queue", type=int, default=8)
    parser.add_argument("--max-batch-size", type=int, default=8)
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads of the server")
    parser.add_argument("--out", type=Path, help="JSON file (default: results/load-<clients>c.json)")
    args = parser.parse_args()

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    proc = start_server(args, port)
    try:
        ready_s = wait_ready(url, proc)
        load_before = os.getloadavg()
        log, elapsed = asyncio.run(run_clients(url, args.clients, args.duration))
        load_after = os.getloadavg()
        summary = summarise(log, elapsed)
        summary["after"] = after_check(url)
        proc.send_signal(signal.SIGTERM)
        summary["after"]["exit_code_on_sigterm"] = proc.wait(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    report = {
        "benchmark": "load", "machine": MACHINE, "date": DATE,
        "config": {"clients": args.clients, "duration_s": args.duration, "max_queue": args.max_queue,
                   "max_batch_size": args.max_batch_size, "threads": args.threads,
                   "model": "SmolLM2-135M-Instruct (transformers, CPU)", "schema": SCHEMA, "max_tokens": 24,
                   "client_policy": "back to back; wait Retry-After on 429/503"},
        "server_ready_s": round(ready_s, 1),
        "load_average": {"before": [round(x, 2) for x in load_before],
                         "after": [round(x, 2) for x in load_after]},
        **summary,
    }
    out = args.out or RESULTS / f"load-{args.clients}c.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print_table(report)
    print(f"\nwritten: {out}")


def print_table(report: dict[str, Any]) -> None:
    lat = report["latency_s"]
    rows = [
        ("clients", report["config"]["clients"]), ("duration (s)", report["elapsed_s"]),
        ("max_queue / batch", f"{report['config']['max_queue']} / {report['config']['max_batch_size']}"),
        ("requests", report["requests"]), ("by status", report["by_status"]),
        ("results (200)", report["results"]), ("overload errors (429/503)", report["overload_errors"]),
        ("  without Retry-After", report["overload_errors_without_retry_after"]),
        ("other errors", report["other_errors"]), ("lost (no answer)", report["lost"]),
        ("throughput (results/s)", report["throughput_rps"]),
        ("completion tokens/s", report["completion_tokens_per_s"]),
        ("latency p50 / p90 / p99 (s)", f"{lat['p50']} / {lat['p90']} / {lat['p99']}"),
        ("overload answer p50 / p99 (s)", f"{report['overload_answer_s']['p50']} / "
                                          f"{report['overload_answer_s']['p99']}"),
        ("after: ready, good request",
         f"{report['after']['health_ready']}, {report['after']['good_request_status']}"),
        ("exit code on SIGTERM", report["after"]["exit_code_on_sigterm"]),
    ]
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"{name:<{width}}  {value}")


if __name__ == "__main__":
    main()
