"""The package as a liftinfer plugin: found through its entry point, chosen by backend auto on CPU, and
written only against liftinfer's public plugin API."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import liftinfer_llamacpp
import pytest

from liftinfer.plugin import ConfigError, EngineConfig

PACKAGE = Path(liftinfer_llamacpp.__file__).parent


def test_the_entry_point_registers_the_backend(liftinfer_plugins):
    backend = liftinfer_plugins.backends()["llamacpp"]
    assert backend.plugin == "llamacpp"
    info = {i.name: i for i in liftinfer_plugins.describe()}["llamacpp"]
    assert not info.builtin
    assert info.version == liftinfer_llamacpp.__version__
    assert set(info.hooks) == {"liftinfer_register_backends", "liftinfer_select_backend"}


def test_liftinfer_plugins_lists_it():
    from click.testing import CliRunner

    from liftinfer.cli import cli
    from liftinfer.pluginmanager import reset_plugins

    reset_plugins()
    out = CliRunner().invoke(cli, ["plugins", "--json"])
    assert out.exit_code == 0, out.output
    listed = json.loads(out.output)
    assert "llamacpp" in {p["name"] for p in listed["plugins"]}
    assert listed["backends"]["llamacpp"]["plugin"] == "llamacpp"
    assert listed["backends"]["llamacpp"]["unavailable"] is None


def test_backend_auto_prefers_it_on_cpu(liftinfer_plugins, monkeypatch):
    monkeypatch.setattr(liftinfer_llamacpp, "cuda_available", lambda: False)
    assert liftinfer_plugins.select_backend(EngineConfig(backend="auto")) == "llamacpp"


def test_backend_auto_leaves_cuda_machines_to_the_default(liftinfer_plugins, monkeypatch):
    import liftinfer.backends

    monkeypatch.setattr(liftinfer_llamacpp, "cuda_available", lambda: True)
    monkeypatch.setattr(liftinfer.backends, "cuda_available", lambda: True)
    assert liftinfer_plugins.select_backend(EngineConfig(backend="auto")) == "transformers"


def test_backend_auto_leaves_model_directories_to_transformers(liftinfer_plugins, monkeypatch, tmp_path):
    monkeypatch.setattr(liftinfer_llamacpp, "cuda_available", lambda: False)
    (tmp_path / "config.json").write_text("{}")
    assert liftinfer_plugins.select_backend(EngineConfig(model=str(tmp_path))) == "transformers"
    assert liftinfer_plugins.select_backend(EngineConfig(model="org/name")) == "transformers"


def test_it_can_be_disabled_by_name(monkeypatch):
    from liftinfer.pluginmanager import Plugins

    monkeypatch.setenv("LIFTINFER_DISABLE_PLUGINS", "llamacpp")
    plugins = Plugins()
    assert "llamacpp" not in plugins.backends()
    with pytest.raises(ConfigError, match="unknown backend 'llamacpp'"):
        plugins.select_backend(EngineConfig(backend="llamacpp"))


def test_it_uses_only_the_public_plugin_api():
    """The proof that the plugin API is enough: no import of liftinfer's internal modules."""
    allowed = {"liftinfer", "liftinfer.plugin"}
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "liftinfer":
                assert node.module in allowed, f"{path.name} imports {node.module}"
            if isinstance(node, ast.Import):
                for alias in node.names:
                    assert alias.name.split(".")[0] != "liftinfer" or alias.name in allowed, path.name
