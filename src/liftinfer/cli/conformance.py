"""``liftinfer conformance PATH``: how many schemas the constraint layer enforces exactly, model-free."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click


@click.command()
@click.argument("path", type=click.Path(exists=True, path_type=Path))
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["maskbench", "test-suite"]),
    help="corpus format (default: detected from the first file)",
)
@click.option(
    "--json", "as_json", is_flag=True, help="end with the summary as one JSON object on the last line"
)
@click.option(
    "--rows", "rows_path", type=click.Path(path_type=Path), help="write one JSON row per schema here"
)
@click.option("--output", "output_path", type=click.Path(path_type=Path), help="write the summary JSON here")
@click.option(
    "--baseline/--no-baseline",
    default=True,
    show_default=True,
    help="also run raw xgrammar over the same files",
)
@click.option(
    "--strict",
    is_flag=True,
    help="build constraints as strict requests do (refuse validation-only "
    "keywords); by default the relaxed build is checked and the strict "
    "counts are derived from it",
)
@click.option(
    "--closed-objects",
    is_flag=True,
    help="close objects the schema leaves open, as generation does; by default the JSON Schema grammar "
    "(extra properties allowed where the schema allows them) is checked",
)
@click.option("--compile-timeout", type=float, default=10.0, show_default=True, help="seconds per schema")
@click.option("--limit", type=int, help="only the first N schemas")
@click.option("--model", default=None, help="whose tokenizer to compile for (default: the engine's model)")
@click.option("--cache-dir", type=click.Path(path_type=Path), help="root of every cache")
@click.option(
    "--vocabulary",
    type=click.Choice(["model", "bytes"]),
    default="model",
    show_default=True,
    help="'bytes': 256 one-byte tokens instead of the model's tokenizer (fast; compile times unreal)",
)
@click.option("--machine", help="how to describe this machine in the results")
def conformance(
    path: Path,
    fmt: str | None,
    as_json: bool,
    rows_path: Path | None,
    output_path: Path | None,
    baseline: bool,
    strict: bool,
    closed_objects: bool,
    compile_timeout: float,
    limit: int | None,
    model: str | None,
    cache_dir: Path | None,
    vocabulary: str,
    machine: str | None,
) -> None:
    """Check and compile every schema under PATH, then feed its test instances through the grammar.

    A schema passes when it compiles, its grammar accepts every valid instance and rejects every
    invalid one. Counts are grammar-level; end to end, post-validation stops every invalid instance.
    """
    from liftinfer.conformance import run_conformance, write_rows
    from liftinfer.conformance.report import print_table
    from liftinfer.conformance.runner import Setup

    setup = Setup(
        vocabulary=vocabulary, compile_timeout_s=compile_timeout, strict=strict, closed_objects=closed_objects
    )
    if vocabulary == "model":
        setup.tokenizer_dir, setup.vocab_size = _tokenizer(model, cache_dir)
    result, rows = run_conformance(
        path, setup, fmt=fmt, baseline=baseline, limit=limit, machine=machine, progress=_progress(as_json)
    )
    if rows_path is not None:
        write_rows(rows, rows_path)
    if output_path is not None:
        output_path.parent.mkdir(parents=True, exist_ok=True)
        output_path.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print_table(result)
    if as_json:
        click.echo(json.dumps(result, ensure_ascii=False))


def _tokenizer(model: str | None, cache_dir: Path | None) -> tuple[str, int]:
    """The model's Hugging Face directory (its tokenizer) and vocabulary size."""
    from liftinfer.config import EngineConfig
    from liftinfer.engine.cache import CacheRoot
    from liftinfer.pluginmanager import get_plugins
    from liftinfer.sources import ensure_hf_dir, resolve_model

    options = {"model": model, "cache_dir": cache_dir}
    given: dict[str, Any] = {k: v for k, v in options.items() if v is not None}
    config = EngineConfig(**given)
    cache = CacheRoot(config.cache_dir)
    hf_dir = ensure_hf_dir(resolve_model(config.model, cache, get_plugins().model_sources()), cache)
    vocab_size = json.loads((hf_dir / "config.json").read_text())["vocab_size"]
    return str(hf_dir), int(vocab_size)


def _progress(quiet: bool) -> Any:
    every = 1 if sys.stderr.isatty() else 50

    def report(done: int, total: int, row: dict[str, Any]) -> None:
        if done % every == 0 or done == total:
            status = "pass" if row["passed"] else row["error_type"] or "fail"
            click.echo(f"[{done}/{total}] {row['subject']:<9} {status:<16} {row['name'][:70]}", err=True)

    return report


COMMANDS = [conformance]
