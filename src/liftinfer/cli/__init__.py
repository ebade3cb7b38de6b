"""The ``liftinfer`` command line. Commands live one group per module; plugins add their own."""

from __future__ import annotations

import sys
from typing import Any

import click

from liftinfer.errors import LiftinferError, config_error_from
from liftinfer.version import __version__


def fail(exc: LiftinferError) -> None:
    """Print an error as one line (no traceback) and exit with the error's code."""
    from rich.console import Console
    from rich.markup import escape

    # escaped: messages hold brackets ("pip install 'liftinfer[modal]'") that rich would read as markup
    Console(stderr=True, highlight=False).print(f"[bold red]Error:[/] {escape(exc.message)}", soft_wrap=True)
    sys.exit(exc.exit_code)


class LiftinferGroup(click.Group):
    """Turns liftinfer's errors into a message and an exit code."""

    def invoke(self, ctx: click.Context) -> Any:
        from pydantic import ValidationError

        try:
            return super().invoke(ctx)
        except LiftinferError as exc:
            fail(exc)
        except ValidationError as exc:
            fail(config_error_from(list(exc.errors())))
        except KeyboardInterrupt:
            sys.exit(130)


@click.group(cls=LiftinferGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="liftinfer")
def cli() -> None:
    """LLM generation constrained to a JSON Schema: serve it, call it, deploy it."""


def _add_builtin_commands() -> None:
    from liftinfer.cli import bench, cache, conformance, deploy, generate, plugins, serve, warmup

    for module in (serve, generate, warmup, deploy, plugins, bench, cache, conformance):
        for command in module.COMMANDS:
            cli.add_command(command)


_add_builtin_commands()


def _describe_toggles(toggles: dict[str, Any]) -> None:
    """List the installed toggles under --help of the commands that take --toggle."""
    if not toggles:
        return
    lines = "\n".join(f"  {name}: {t.description}" for name, t in sorted(toggles.items()))
    for command in cli.commands.values():
        if any(p.name == "toggles" for p in command.params):
            command.epilog = f"\b\nToggles (--toggle NAME, or LIFTINFER_TOGGLES=a,b):\n{lines}"


def main(argv: list[str] | None = None) -> None:
    from liftinfer.pluginmanager import get_plugins

    try:
        plugins = get_plugins()
        plugins.register_commands(cli)
        _describe_toggles(plugins.toggles())
    except LiftinferError as exc:
        fail(exc)
    cli.main(args=argv, prog_name="liftinfer")
