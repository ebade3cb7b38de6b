"""``liftinfer deploy``, ``build``, ``export`` and ``build-base``: render a deployment on a target."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from liftinfer.cli.options import engine_config, engine_options

if TYPE_CHECKING:
    from liftinfer.config import EngineConfig
    from liftinfer.deploy import DeploymentSpec
    from liftinfer.targets.base import Target

# option name -> DeploymentSpec path
NAMED = {
    "name": "name",
    "min_containers": "scaling.min_containers",
    "max_containers": "scaling.max_containers",
    "concurrency": "scaling.concurrency",
    "scaledown_window": "scaling.scaledown_window",
    "regions": "regions",
    "secrets": "secrets",
    "api_key_secret": "api_key_secret",
}


def deployment_options(default_target: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """The common DeploymentSpec settings as options; ``--set PATH=VALUE`` reaches every other field."""

    def decorate(func: Callable[..., Any]) -> Callable[..., Any]:
        decorators = [
            click.option("--target", default=default_target, show_default=True,
                         help="deployment target (see `liftinfer plugins`)"),
            click.option("--name", help="deployment name (default: liftinfer)"),
            click.option("--gpu", metavar="TYPE[:COUNT]|none",
                         help="GPU type and count: H100 (the default), A100-80GB:2, or none for CPU only"),
            click.option("--min-containers", type=int, help="containers kept warm (default 0)"),
            click.option("--max-containers", type=int, help="most containers at once (default: no limit)"),
            click.option("--concurrency", type=int, help="requests one container takes at once (default 64)"),
            click.option("--scaledown-window", type=int,
                         help="seconds an idle container stays up (default 600)"),
            click.option("--region", "regions", multiple=True, help="a region to run in (repeatable)"),
            click.option("--secret", "secrets", multiple=True,
                         help="a platform secret to inject (repeatable)"),
            click.option("--api-key-secret", help="a platform secret that holds LIFTINFER_API_KEY"),
            click.option("--no-proxy-auth", is_flag=True, help="serve without the platform's proxy auth"),
            click.option("--set", "sets", multiple=True, metavar="PATH=VALUE",
                         help="any DeploymentSpec field, e.g. scaling.target_concurrency=32 (repeatable; "
                              "VALUE is JSON where it parses)"),
        ]
        for decorator in reversed(decorators):
            func = decorator(func)
        return engine_options(func)

    return decorate


def prepare(values: dict[str, Any]) -> tuple[Target, DeploymentSpec, EngineConfig]:
    """The target, the DeploymentSpec and the EngineConfig that the command-line values describe."""
    from liftinfer.config import ServeConfig
    from liftinfer.pluginmanager import get_plugins
    from liftinfer.targets.base import target_named

    plugins = get_plugins()
    target = target_named(values.pop("target"), plugins)
    edits = deployment_edits(values)
    engine = engine_config(**values)
    from liftinfer.deploy import build_spec

    return target, build_spec(engine, ServeConfig(), plugins, edits), engine


def deployment_edits(values: dict[str, Any]) -> list[tuple[str, Any]]:
    """Pop the deployment options out of ``values`` as DeploymentSpec edits (named options, then --set)."""
    from liftinfer.deploy import parse_edits

    edits: list[tuple[str, Any]] = []
    for option, path in NAMED.items():
        value = values.pop(option, None)
        if value not in (None, ()):
            edits.append((path, list(value) if isinstance(value, tuple) else value))
    gpu = values.pop("gpu", None)
    if gpu is not None:
        edits += _gpu_edits(gpu)
    if values.pop("no_proxy_auth", False):
        edits.append(("proxy_auth", False))
    return edits + parse_edits(values.pop("sets", ()) or ())


def _gpu_edits(text: str) -> list[tuple[str, Any]]:
    from liftinfer.errors import ConfigError

    if text.strip().lower() in ("none", "cpu", ""):
        return [("gpu.type", None)]
    kind, _, count = text.partition(":")
    if count and not count.isdigit():
        raise ConfigError(f"--gpu {text!r}: expected TYPE or TYPE:COUNT, e.g. H100:2", field="gpu")
    return [("gpu.type", kind.strip()), ("gpu.count", int(count or 1))]


@click.command()
@deployment_options(default_target="modal")
def deploy(**values: Any) -> None:
    """Deploy for good (Modal by default) and print the endpoint URLs."""
    target, spec, engine = prepare(values)
    target.deploy(spec, engine)


@click.command()
@deployment_options(default_target="container")
@click.option("-o", "--output", "out", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="folder to write the build context into")
def build(out: Path, **values: Any) -> None:
    """Write a deployment's build context (a Dockerfile and what it copies, for the container target)."""
    target, spec, engine = prepare(values)
    files = target.build(spec, engine, out)
    click.echo(f"wrote {', '.join(f.name for f in files)} to {out}")
    if target.name == "container":
        click.echo(f"build it with: docker build -t {spec.name} {out}")


@click.command()
@deployment_options(default_target="modal")
@click.option("-o", "--output", "out", required=True, metavar="FILE",
              help="file to write (e.g. app.py); '-' prints it")
def export(out: str, **values: Any) -> None:
    """Write a standalone app file (Modal: `modal deploy app.py` deploys it without liftinfer's CLI)."""
    import tempfile

    target, spec, engine = prepare(values)
    if out == "-":
        with tempfile.TemporaryDirectory() as tmp:
            path = target.export(spec, engine, Path(tmp) / "app.py")
            sys.stdout.write(path.read_text(encoding="utf-8"))
        return
    path = target.export(spec, engine, Path(out))
    hint = f"; deploy it with: modal deploy {path}" if target.name == "modal" else ""
    click.echo(f"wrote {path}{hint}")


@click.command("build-base")
@deployment_options(default_target="modal")
@click.option("--tag", help="the base image's name (default: LIFTINFER_BASE_IMAGE or liftinfer-base:VERSION)")
@click.option("-o", "--output", "out", type=click.Path(file_okay=False, path_type=Path),
              help="also keep the base image's build definition in this folder")
def build_base(tag: str | None, out: Path | None, **values: Any) -> None:
    """Build the base image (CUDA, Python, torch, vLLM) once; `--toggle base-image` deploys build on it."""
    from liftinfer.toggles.base_image import base_image_name

    target, spec, engine = prepare(values)
    name = tag or base_image_name()
    ref = target.build_base(spec, engine, name, out)
    click.echo(f"base image {name} built on {target.name}: {ref}")
    hint = "" if name == base_image_name() else f" and LIFTINFER_BASE_IMAGE={name}"
    click.echo(f"deploy on it with --toggle base-image (or LIFTINFER_TOGGLES=base-image){hint}")


COMMANDS = [deploy, build, export, build_base]
