"""``liftinfer generate``: one request in this process, printing the JSON."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from liftinfer.cli.options import engine_config, engine_options


def read_schema(path: str) -> dict[str, Any]:
    from liftinfer.errors import ConfigError

    try:
        text = sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read schema file {path!r}: {exc.strerror}", field="schema") from None
    try:
        schema = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"schema file {path!r} is not valid JSON: {exc.msg} (line {exc.lineno})",
                          field="schema") from None
    if not isinstance(schema, dict):
        raise ConfigError(f"schema file {path!r} must hold a JSON object", field="schema")
    return schema


@click.command()
@click.argument("prompt")
@click.option("--schema", "schema_path", required=True, metavar="FILE", help="JSON Schema file ('-' for stdin)")
@click.option("--max-tokens", type=int, help="largest number of tokens to generate")
@click.option("--temperature", type=float, default=0.0, show_default=True)
@click.option("--seed", type=int)
@click.option("--no-strict", is_flag=True, help="allow keywords no grammar enforces (the output is still validated)")
@click.option("--verbose", "-v", is_flag=True, help="also print timings and token counts to stderr")
@engine_options
def generate(prompt: str, schema_path: str, max_tokens: int | None, temperature: float, seed: int | None,
             no_strict: bool, verbose: bool, **engine_values: Any) -> None:
    """Generate JSON for PROMPT that validates against the schema in FILE, and print it."""
    from liftinfer.engine.base import make_request
    from liftinfer.pluginmanager import load_engine

    schema = read_schema(schema_path)
    request = make_request(prompt=prompt, schema=schema, max_tokens=max_tokens, temperature=temperature,
                           seed=seed, strict=not no_strict)
    engine = load_engine(engine_config(**engine_values))
    try:
        result = engine.generate(request.prompt, schema=schema, **request.model_dump(
            include={"max_tokens", "temperature", "top_p", "seed", "stop", "strict"}))
    finally:
        engine.close()
    click.echo(json.dumps(result.data, ensure_ascii=False))
    if verbose:
        click.echo(f"{result.usage.completion_tokens} tokens, finish {result.finish_reason}, "
                   f"{result.timings.total_ms:.0f} ms ({result.backend}, {result.model})", err=True)


COMMANDS = [generate]
