"""``liftinfer serve``: run the HTTP server on a target (local by default)."""

from __future__ import annotations

from typing import Any

import click

from liftinfer.cli.options import engine_config, engine_options


@click.command()
@engine_options
@click.option("--host", help="interface to listen on (default 127.0.0.1)")
@click.option("--port", type=int, help="port to listen on (default 8000)")
@click.option("--target", help="deployment target (default: local); see `liftinfer plugins`")
@click.option("--api-key-file", type=click.Path(dir_okay=False), help="file holding the API key clients must send")
@click.option("--no-warmup", is_flag=True, help="do not run a warm-up request once the model is loaded")
def serve(host: str | None, port: int | None, target: str | None, api_key_file: str | None, no_warmup: bool,
          **engine_values: object) -> None:
    """Serve schema-constrained generation over HTTP (the embedded default model unless --model is given)."""
    from liftinfer.config import ServeConfig
    from liftinfer.pluginmanager import get_plugins
    from liftinfer.targets.base import target_named

    plugins = get_plugins()
    engine = engine_config(**engine_values)
    overrides: dict[str, Any] = {"host": host, "port": port, "target": target, "api_key_file": api_key_file}
    serve_config = ServeConfig(**{k: v for k, v in overrides.items() if v is not None})
    if no_warmup:
        serve_config.warmup_on_start = False
    target_named(serve_config.target, plugins).serve(engine, serve_config, plugins)


COMMANDS = [serve]
