"""``liftinfer cache``: show, clear and prime the cache root (models, downloads, JIT compile caches)."""

from __future__ import annotations

import json
import time
from typing import Any

import click

from liftinfer.cli.options import engine_config, engine_options


@click.group()
def cache() -> None:
    """Show, clear and prime the cache root."""


@cache.command("info")
@click.option("--cache-dir", type=click.Path(), help="root of every cache")
@click.option("--json", "as_json", is_flag=True, help="print one JSON object")
def info(cache_dir: str | None, as_json: bool) -> None:
    """Bytes held under each part of the cache root."""
    from liftinfer.engine.cache import CacheRoot

    config = engine_config(cache_dir=cache_dir)
    sizes = CacheRoot(config.cache_dir).sizes()
    compile_root = config.compile_root
    if compile_root != config.cache_dir / "compile":
        from liftinfer.engine.cache import COMPILE_CACHES, dir_size

        sizes.update({f"compile/{c}": dir_size(compile_root / c) for c in COMPILE_CACHES})
    if as_json:
        click.echo(json.dumps({"root": str(config.cache_dir), "compile_root": str(compile_root), "bytes": sizes}))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"cache root {config.cache_dir} (compile caches in {compile_root})")
    table.add_column("part")
    table.add_column("size", justify="right")
    for part, size in sizes.items():
        table.add_row(part, f"{size / 2**20:,.1f} MiB")
    Console().print(table)


@cache.command("clear")
@click.argument("parts", nargs=-1)
@click.option("--cache-dir", type=click.Path(), help="root of every cache")
def clear(parts: tuple[str, ...], cache_dir: str | None) -> None:
    """Delete PARTS of the cache (default: every compile cache), e.g. `compile/flashinfer` or `models`."""
    import shutil

    from liftinfer.engine.cache import COMPILE_CACHES
    from liftinfer.errors import ConfigError

    config = engine_config(cache_dir=cache_dir)
    known = {"downloads": config.cache_dir / "downloads", "models": config.cache_dir / "models",
             "compile": config.compile_root, **{f"compile/{c}": config.compile_root / c for c in COMPILE_CACHES}}
    for part in parts or ("compile",):
        if part not in known:
            raise ConfigError(f"unknown cache part {part!r}; known: {', '.join(known)}")
        shutil.rmtree(known[part], ignore_errors=True)
        click.echo(f"cleared {part} ({known[part]})")


@cache.command("prime")
@engine_options
@click.option("--target", default="local", show_default=True,
              help="where to prime: here, or a deployment target whose primed volumes one job fills (modal)")
def prime(target: str, **engine_values: Any) -> None:
    """Fill the compile caches with one start and one request (the compile-cache toggle is switched on).

    With --target modal: one function on Modal fills the compile-cache Volume and commits it once; the
    serving containers mount it read-only and start from a copy, so replicas never race to write.
    """
    from liftinfer.engine.cache import dir_size
    from liftinfer.pluginmanager import load_engine

    config = engine_config(**engine_values)
    if "compile-cache" not in config.toggles:
        config.toggles = [*config.toggles, "compile-cache"]
    if target != "local":
        from liftinfer.config import ServeConfig
        from liftinfer.pluginmanager import get_plugins
        from liftinfer.targets.base import target_named

        plugins = get_plugins()
        chosen = target_named(target, plugins)
        from liftinfer.deploy import build_spec

        report = chosen.prime(build_spec(config, ServeConfig(), plugins), config)
        click.echo(json.dumps({"target": target, **report}, default=str))
        return
    start = time.perf_counter()
    engine = load_engine(config)
    try:
        report = engine.warmup()
    finally:
        engine.close()
    click.echo(json.dumps({"compile_root": str(config.compile_root), "seconds": round(time.perf_counter() - start, 1),
                           "startup": engine.startup, "warmup": report,
                           "bytes": dir_size(config.compile_root)}))


COMMANDS = [cache]
