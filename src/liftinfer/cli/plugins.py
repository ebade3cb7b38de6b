"""``liftinfer plugins``: what is loaded, and which backends, targets and toggles it brings."""

from __future__ import annotations

import json

import click


@click.command("plugins")
@click.option("--json", "as_json", is_flag=True, help="print one JSON object")
def plugins_command(as_json: bool) -> None:
    """List loaded plugins (name, version, hooks) and the backends, targets and toggles they register."""
    from liftinfer.pluginmanager import get_plugins

    plugins = get_plugins()
    infos = plugins.describe()
    backends = {name: {"plugin": b.plugin, "description": b.description, "unavailable": b.unavailable()}
                for name, b in sorted(plugins.backends().items())}
    targets = {name: {"plugin": t.plugin, "description": t.description}
               for name, t in sorted(plugins.targets().items())}
    toggles = {name: {"plugin": t.plugin, "description": t.description}
               for name, t in sorted(plugins.toggles().items())}
    if as_json:
        click.echo(json.dumps({
            "plugins": [{"name": i.name, "version": i.version, "hooks": list(i.hooks), "builtin": i.builtin}
                        for i in infos],
            "backends": backends, "targets": targets, "toggles": toggles}))
        return
    from rich.console import Console
    from rich.table import Table

    console = Console()
    table = Table(title="plugins")
    for column in ("name", "version", "hooks"):
        table.add_column(column)
    for info in infos:
        table.add_row(info.name + ("" if info.builtin else " (external)"), info.version, ", ".join(info.hooks))
    console.print(table)
    for title, rows in (("backends", backends), ("targets", targets), ("toggles", toggles)):
        section = Table(title=title)
        for column in ("name", "plugin", "description", "status"):
            section.add_column(column)
        for name, row in rows.items():
            status = row.get("unavailable") or "available"
            section.add_row(name, row["plugin"], row["description"], status)
        console.print(section)


COMMANDS = [plugins_command]
