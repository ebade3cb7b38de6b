"""Options shared by the commands that create an engine."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from liftinfer.config import EngineConfig


def engine_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """--backend/--model/--cache-dir/--toggle/--option, turned into an EngineConfig by ``engine_config``."""
    decorators = [
        click.option("--backend", help="backend name, or 'auto' (vLLM where CUDA and vLLM exist, else CPU)"),
        click.option("--model", help="packaged model name (default: smollm2), local path, or hub id"),
        click.option("--cache-dir", type=click.Path(path_type=Path), help="root of every cache"),
        click.option("--toggle", "toggles", multiple=True, help="switch an optimization toggle on (repeatable)"),
        click.option("--max-batch-size", type=int, help="requests decoded together"),
        click.option("--option", "options", multiple=True, metavar="KEY=VALUE",
                     help="a backend engine option (repeatable); VALUE is parsed as JSON when it can be"),
    ]
    for decorator in reversed(decorators):
        func = decorator(func)
    return func


def engine_config(**values: Any) -> EngineConfig:
    """An EngineConfig from the environment with the given command-line values on top."""
    from liftinfer.config import parse_assignments

    options = dict(parse_assignments(values.pop("options", ()) or (), "--option", field="option"))
    overrides = {k: v for k, v in values.items() if v not in (None, ())}
    if "toggles" in overrides:
        overrides["toggles"] = list(overrides["toggles"])
    config = EngineConfig(**overrides)
    if options:
        config.engine_options = {**config.engine_options, **options}
    return config
