"""``liftinfer bench``: liftinfer (library, HTTP) and raw vLLM on one workload, side by side."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click


@click.command()
@click.option("--backend", default="auto", show_default=True, help="liftinfer backend to measure")
@click.option("--model", default="smollm2", show_default=True, help="model spec (raw vLLM gets the same files)")
@click.option("--scenario", "scenarios", multiple=True,
              help="scenario to run, in order (repeatable): library, cold, primed, eager, http, http-two-loops, raw, "
                   "raw-async, raw-default; a ':startup' suffix measures start-up only [default: library, http]")
@click.option("-n", "--requests", "n", type=int, default=64, show_default=True, help="requests per batch")
@click.option("--max-tokens", type=int, default=256, show_default=True)
@click.option("--rounds", type=click.IntRange(min=1), default=1, show_default=True,
              help="batches per scenario, in one process; tokens/s is over all of them")
@click.option("--free-rounds", type=click.IntRange(min=0), default=None,
              help="unconstrained batches before the constrained ones (0: none) [default: as many as --rounds]")
@click.option("--toggle", "toggles", multiple=True, help="toggle for the liftinfer scenarios (repeatable)")
@click.option("--option", "options", multiple=True, metavar="KEY=VALUE",
              help="engine option for every scenario, raw vLLM included (repeatable; VALUE parsed as JSON)")
@click.option("--set", "settings", multiple=True, metavar="KEY=VALUE",
              help="EngineConfig value for the liftinfer scenarios, e.g. max_model_len=4096 (repeatable)")
@click.option("--compile-root", type=click.Path(path_type=Path), help="JIT cache root for cold/primed/raw")
@click.option("--scratch-home", is_flag=True, help="run scenarios with an empty HOME (no default caches)")
@click.option("--profile", "profile_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="run the HTTP scenarios' server under py-spy; its samples go here (needs py-spy on PATH)")
@click.option("--out", type=click.Path(path_type=Path), help="write the JSON report here")
def bench(backend: str, model: str, scenarios: tuple[str, ...], n: int, max_tokens: int, rounds: int,
          free_rounds: int | None, toggles: tuple[str, ...], options: tuple[str, ...], settings: tuple[str, ...],
          compile_root: Path | None, scratch_home: bool, profile_dir: Path | None, out: Path | None) -> None:
    """Measure start-up, free and constrained tokens/s, wall time to N valid objects and latency."""
    import tempfile

    from rich.console import Console
    from rich.table import Table

    from liftinfer.bench.run import COLUMNS, BenchPlan, run, table_rows

    plan = BenchPlan(backend=backend, model=model, n=n, max_tokens=max_tokens, rounds=rounds,
                     free_rounds=free_rounds, toggles=list(toggles),
                     options=_pairs(options, "--option"), extra_config=_pairs(settings, "--set"),
                     profile_dir=profile_dir)
    if compile_root is not None:
        plan.compile_root = compile_root
    if scratch_home:
        plan.home = Path(tempfile.mkdtemp(prefix="liftinfer-bench-home-"))
    report = run(plan, list(scenarios) or ["library", "http"])
    table = Table(title=f"liftinfer bench: {model} on {backend} ({n} requests x {rounds}, max_tokens {max_tokens})")
    for column in COLUMNS:
        table.add_column(column)
    for row in table_rows(report):
        table.add_row(*row)
    console = Console(width=max(160, Console().width))
    console.print(table)
    repeated = {name: p for name, p in report["pooled"].items() if p["processes"] > 1 or "vs_raw" in p}
    if repeated:
        summary = Table(title="constrained tokens/s pooled over each scenario's runs")
        for column in ("scenario", "runs", "batches", "tokens", "JSON tok/s", "per run (min-max)", "wall s",
                       "vs raw"):
            summary.add_column(column)
        for name, p in repeated.items():
            low, high = p["process_tok_per_s"]
            summary.add_row(name, str(p["processes"]), str(p["rounds"]), str(p["tokens"]), str(p["tok_per_s"]),
                            f"{low}-{high}", str(p["s"]), f"{p['vs_raw']:.3f}x" if "vs_raw" in p else "")
        console.print(summary)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(report, indent=2) + "\n")
        click.echo(f"wrote {out}")


def _pairs(items: tuple[str, ...], flag: str) -> dict[str, Any]:
    from liftinfer.config import parse_assignments

    return dict(parse_assignments(items, flag))


COMMANDS = [bench]
