"""``liftinfer warmup URL``: wait for an endpoint to be ready and warm it."""

from __future__ import annotations

import json
import os
import sys

import click


@click.command()
@click.argument("url")
@click.option("--timeout", type=float, help="seconds to wait (default 600; 30 with --check)")
@click.option("--async", "fire_only", is_flag=True, help="send the warm-up request and return at once")
@click.option("--check", is_flag=True, help="only check readiness (a 30 s health check); no warm-up request")
@click.option("--api-key", envvar="LIFTINFER_API_KEY", help="sent as a Bearer token (env LIFTINFER_API_KEY)")
@click.option("--header", "headers", multiple=True, metavar="NAME:VALUE",
              help="an extra request header, e.g. Modal-Key:... (repeatable)")
@click.option("--json", "as_json", is_flag=True, help="print the outcome as one JSON object")
def warmup(url: str, timeout: float | None, fire_only: bool, check: bool, api_key: str | None,
           headers: tuple[str, ...], as_json: bool) -> None:
    """Wait until the liftinfer endpoint at URL is ready, then warm it up.

    Exit codes: 0 ready, 3 timed out, 4 unreachable, 5 unauthorized, 6 failed (model or warm-up).
    """
    from liftinfer.errors import ConfigError
    from liftinfer.warmup import fire, wait_ready

    if not url.startswith(("http://", "https://")):
        raise ConfigError(f"URL must start with http:// or https:// (got {url!r})", field="url")
    extra = {}
    for item in headers:
        name, sep, value = item.partition(":")
        if not sep or not name.strip():
            raise ConfigError(f"--header {item!r}: expected NAME:VALUE", field="header")
        extra[name.strip()] = value.strip()
    if fire_only:
        result = fire(url, api_key=api_key, headers=extra)
    else:
        limit = timeout if timeout is not None else (30.0 if check else 600.0)
        quiet = as_json or not sys.stderr.isatty() or bool(os.environ.get("CI"))
        result = wait_ready(url, timeout=limit, warm=not check, api_key=api_key, headers=extra, quiet=quiet)
    if as_json:
        click.echo(json.dumps({"outcome": result.outcome.name.lower(), "exit_code": int(result.outcome),
                               "message": result.message, "elapsed_s": round(result.elapsed_s, 2),
                               "report": result.report}))
    else:
        extra_info = ""
        if result.report and "total_ms" in result.report:
            extra_info = f" (warm-up {result.report['total_ms'] / 1000:.1f} s)"
        click.echo(f"{result.message}{extra_info}", err=result.outcome != 0)
    sys.exit(int(result.outcome))


COMMANDS = [warmup]
