"""Constrained tokens/s on CPU: the llamacpp plugin vs llama.cpp's own JSON-schema (GBNF) path vs the
transformers default, side by side in one run, on the same GGUF, schema, prompts, max_tokens and threads.

    python plugins/liftinfer-llamacpp/benchmarks/bench.py [--threads 2] [--rounds 3] [--max-tokens 160]

Systems are measured in turns (round-robin per prompt), so load from other processes falls on all of them
alike. Prints a table and writes JSON to ``benchmarks/results/llamacpp-cpu.json``. A benchmark, not a test.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[3]

# A schema with enums, bounds, a pattern, an array and a nested object: the kind of request liftinfer serves.
SCHEMA = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "maxLength": 40},
        "category": {"enum": ["book", "tool", "food", "toy", "clothing"]},
        "price": {"type": "number", "minimum": 0},
        "in_stock": {"type": "boolean"},
        "tags": {"type": "array", "items": {"type": "string", "maxLength": 20}, "maxItems": 4},
        "dimensions": {
            "type": "object",
            "properties": {"width_cm": {"type": "number"}, "height_cm": {"type": "number"}},
            "required": ["width_cm", "height_cm"],
            "additionalProperties": False,
        },
    },
    "required": ["name", "category", "price", "in_stock", "tags", "dimensions"],
    "additionalProperties": False,
}
PROMPTS = [
    "Describe a hammer for a hardware store catalogue, as JSON.",
    "Describe a children's picture book about a fox, as JSON.",
    "Describe a wool winter scarf for an online shop, as JSON.",
    "Describe a jar of strawberry jam for a grocery listing, as JSON.",
]
SYSTEM = "You answer with one JSON object describing a product."
PACKAGES = ("llama-cpp-python", "xgrammar", "torch", "transformers", "liftinfer")


@dataclass
class Run:
    tokens: int
    seconds: float
    valid: bool
    text: str
    first_seconds: float = 0.0  # the same request cut at one token: prompt processing plus one step


@dataclass
class System:
    name: str
    generate: Callable[[str, int], Run]
    note: str = ""
    runs: list[Run] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        tokens = sum(r.tokens for r in self.runs)
        seconds = sum(r.seconds for r in self.runs)
        per_request = [r.tokens / r.seconds for r in self.runs if r.seconds > 0]
        decode_seconds = sum(r.seconds - r.first_seconds for r in self.runs)
        return {
            "system": self.name, "note": self.note, "requests": len(self.runs), "completion_tokens": tokens,
            "seconds": round(seconds, 3), "tokens_per_s": round(tokens / seconds, 2) if seconds else None,
            "median_request_tokens_per_s": round(statistics.median(per_request), 2) if per_request else None,
            "mean_request_s": round(seconds / len(self.runs), 3) if self.runs else None,
            # after the first token: tokens/s of the decoding steps alone, whatever the prompt cost
            "decode_tokens_per_s": round(sum(r.tokens - 1 for r in self.runs) / decode_seconds, 2)
            if decode_seconds > 0 else None,
            "valid": sum(r.valid for r in self.runs),
            "sample_output": self.runs[0].text if self.runs else None,
        }


def validator() -> Callable[[str], bool]:
    from jsonschema import Draft202012Validator

    check = Draft202012Validator(SCHEMA)

    def valid(text: str) -> bool:
        try:
            return check.is_valid(json.loads(text))
        except ValueError:
            return False

    return valid


def messages(prompt: str) -> list[dict[str, str]]:
    return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": prompt}]


def liftinfer_system(name: str, backend: str, args: argparse.Namespace,
                     valid: Callable[[str], bool]) -> System:
    from liftinfer import load_engine

    engine = load_engine(backend=backend, threads=args.threads, max_batch_size=8, max_model_len=1024,
                         cache_dir=args.cache_dir)

    def generate(prompt: str, max_tokens: int) -> Run:
        from liftinfer import LiftinferError

        start = time.perf_counter()
        try:
            result = engine.generate(messages=messages(prompt), schema=SCHEMA, max_tokens=max_tokens,
                                     temperature=0.0)
        except LiftinferError:  # cut at max_tokens: not JSON yet
            return Run(max_tokens, time.perf_counter() - start, False, "")
        seconds = time.perf_counter() - start
        return Run(result.usage.completion_tokens, seconds, valid(result.text), result.text)

    system = System(name, generate, note=f"liftinfer backend {backend!r}, xgrammar masks, compact JSON")
    system.engine = engine  # type: ignore[attr-defined]
    return system


def gbnf_system(args: argparse.Namespace, path: Path, valid: Callable[[str], bool], grammar: bool) -> System:
    """llama-cpp-python's own path: create_chat_completion with a GBNF grammar from the JSON schema."""
    from llama_cpp import Llama, LlamaGrammar

    llm = Llama(model_path=str(path), n_ctx=1024, n_threads=args.threads, n_threads_batch=args.threads,
                n_batch=512, verbose=False)
    # converted once here, so the measured time is decoding only (favours the baseline slightly)
    constraint = LlamaGrammar.from_json_schema(json.dumps(SCHEMA), verbose=False) if grammar else None

    def generate(prompt: str, max_tokens: int) -> Run:
        start = time.perf_counter()
        out = llm.create_chat_completion(messages=messages(prompt), grammar=constraint,
                                         max_tokens=max_tokens, temperature=0.0)
        seconds = time.perf_counter() - start
        text = out["choices"][0]["message"]["content"] or ""
        return Run(out["usage"]["completion_tokens"], seconds, valid(text), text)

    if grammar:
        return System("llama.cpp GBNF (json schema)", generate,
                      note="llama-cpp-python create_chat_completion, grammar=LlamaGrammar.from_json_schema")
    return System("llama.cpp unconstrained", generate, note="same call without a grammar: the ceiling")


def batch_throughput(engine: Any, args: argparse.Namespace, n: int) -> dict[str, Any]:
    requests = [{"messages": messages(PROMPTS[i % len(PROMPTS)]), "schema": SCHEMA,
                 "max_tokens": args.max_tokens} for i in range(n)]
    start = time.perf_counter()
    results = engine.generate_batch(requests)
    seconds = time.perf_counter() - start
    tokens = sum(r.usage.completion_tokens for r in results if not isinstance(r, Exception))
    return {"concurrent_requests": n, "completion_tokens": tokens, "seconds": round(seconds, 3),
            "tokens_per_s": round(tokens / seconds, 2),
            "failed": sum(isinstance(r, Exception) for r in results)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--max-tokens", type=int, default=160)
    parser.add_argument("--batch", type=int, default=8, help="concurrent requests for the throughput rows")
    parser.add_argument("--skip", action="append", default=[], help="leave out a system (transformers, ...)")
    parser.add_argument("--cache-dir", type=Path, default=None)
    parser.add_argument("--machine", default="2-core CPU dev box", help="recorded with the results")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "llamacpp-cpu.json")
    args = parser.parse_args()

    from liftinfer.plugin import CacheRoot, EngineConfig, resolve_model
    from liftinfer.pluginmanager import get_plugins

    config = EngineConfig(**({"cache_dir": args.cache_dir} if args.cache_dir else {}))
    args.cache_dir = config.cache_dir
    model = resolve_model("smollm2", CacheRoot(config.cache_dir), get_plugins().model_sources())
    valid = validator()

    systems = [liftinfer_system("liftinfer-llamacpp (plugin)", "llamacpp", args, valid),
               gbnf_system(args, model.path, valid, grammar=True)]
    if "transformers" not in args.skip:
        systems.append(liftinfer_system("liftinfer transformers (default)", "transformers", args, valid))
    if "unconstrained" not in args.skip:
        systems.append(gbnf_system(args, model.path, valid, grammar=False))

    load_before = os.getloadavg()
    for system in systems:  # warm-up: grammar compilation, first-call allocations
        system.generate(PROMPTS[0], args.max_tokens)
    for _ in range(args.rounds):
        for prompt in PROMPTS:
            for system in systems:
                run = system.generate(prompt, args.max_tokens)
                run.first_seconds = system.generate(prompt, 1).seconds
                system.runs.append(run)

    rows = [s.summary() for s in systems]
    plugin_engine = systems[0].engine  # type: ignore[attr-defined]
    stats_before = plugin_engine.step_stats()
    throughput = {"liftinfer-llamacpp (plugin)": batch_throughput(plugin_engine, args, args.batch)}
    stats_after = plugin_engine.step_stats()
    if "transformers" not in args.skip:
        throughput["liftinfer transformers (default)"] = batch_throughput(systems[2].engine, args, args.batch)  # type: ignore[attr-defined]

    report = {
        "benchmark": "constrained decoding tokens/s on CPU, same GGUF, schema, prompts, max_tokens, threads",
        "machine": args.machine, "date": time.strftime("%Y-%m-%d"), "cpu_count": os.cpu_count(),
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        # other processes share the CPU; all systems are measured in turns, so they share the noise too
        "load_average_1m": {"start": round(load_before[0], 2), "end": round(os.getloadavg()[0], 2)},
        "versions": {p: version(p) for p in PACKAGES},
        "model": {"name": model.name, "file": model.path.name, "bytes": model.path.stat().st_size},
        "settings": {"threads": args.threads, "rounds": args.rounds, "prompts": len(PROMPTS),
                     "max_tokens": args.max_tokens, "temperature": 0.0, "schema": SCHEMA},
        "command": "python plugins/liftinfer-llamacpp/benchmarks/bench.py " + " ".join(sys.argv[1:]),
        "sequential": rows,
        "concurrent": throughput,
        "plugin_time_breakdown_sequential": stats_before,
        "plugin_time_breakdown_concurrent": {k: round(v - stats_before[k], 6)
                                             for k, v in stats_after.items()},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    table = render_table(report)
    args.out.with_suffix(".txt").write_text(table + "\n")
    print(table)
    print(f"\nwrote {args.out} and {args.out.with_suffix('.txt').name}")


def render_table(report: dict[str, Any]) -> str:
    s = report["settings"]
    lines = [f"{report['machine']}, {report['date']}: {s['threads']} threads, {s['prompts']} prompts x "
             f"{s['rounds']} rounds, max_tokens {s['max_tokens']}, greedy; llama-cpp-python "
             f"{report['versions']['llama-cpp-python']}; load average {report['load_average_1m']}",
             report["command"], "",
             f"{'system (one request at a time)':34} {'tok/s':>7} {'median':>7} {'decode':>7} {'s/req':>6} "
             f"{'tokens':>6} {'valid':>7}"]
    for row in report["sequential"]:
        lines.append(f"{row['system']:34} {row['tokens_per_s']:>7} {row['median_request_tokens_per_s']:>7} "
                     f"{row['decode_tokens_per_s']:>7} {row['mean_request_s']:>6} "
                     f"{row['completion_tokens']:>6} {row['valid']:>3}/{row['requests']:<3}")
    lines.append("tok/s: completion tokens / request time; median: of requests; decode: tokens after the "
                 "first / time after the first (prompt cost removed); s/req: mean request time")
    lines += ["", f"{'system (concurrent requests)':40} {'tok/s':>8} {'requests':>8}"]
    for name, row in report["concurrent"].items():
        lines.append(f"{name:40} {row['tokens_per_s']:>8} {row['concurrent_requests']:>8}")
    for when in ("sequential", "concurrent"):
        b = report[f"plugin_time_breakdown_{when}"]
        parts = ("decode_s", "fill_mask_s", "apply_mask_s", "sample_s")
        total = sum(b[k] for k in parts)
        if total:
            lines.append(f"plugin, where a step's time goes ({when}): "
                         + ", ".join(f"{k.removesuffix('_s')} {100 * b[k] / total:.1f}%" for k in parts))
    return "\n".join(lines)


if __name__ == "__main__":
    main()
