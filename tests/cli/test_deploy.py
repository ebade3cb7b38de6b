"""``liftinfer deploy``, ``export``, ``build``, ``build-base`` and ``serve --target modal|container``.

Modal's cloud and a Docker engine cannot run here: where a test needs one, a double stands in for it and
the test checks what liftinfer sent it. Without credentials or an engine, the real commands run and must
fail with one line naming what is missing.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from liftinfer.cli import cli

SRC = str(Path(__file__).resolve().parents[2] / "src")


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch, liftinfer_plugins: Any, tmp_path: Path) -> None:
    for var in ("LIFTINFER_TOGGLES", "LIFTINFER_BASE_IMAGE", "LIFTINFER_DEPLOY_SET", "MODAL_TOKEN_ID",
                "MODAL_TOKEN_SECRET"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("LIFTINFER_CACHE_DIR", str(tmp_path / "cache"))


def invoke(*args: str) -> Any:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def run_cli(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
    """The real command line in a fresh process, with no Modal configuration at all."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODAL_")}
    env.update(PYTHONPATH=SRC, HOME=str(home), MODAL_CONFIG_PATH=str(home / "no-modal.toml"))
    return subprocess.run([sys.executable, "-m", "liftinfer", *args], capture_output=True, text=True, env=env,
                          timeout=120)


# ---- export ------------------------------------------------------------------------------------------------

def test_export_writes_an_app_file_with_the_chosen_settings(tmp_path):
    pytest.importorskip("modal")
    out = tmp_path / "app.py"
    result = invoke("export", "--target", "modal", "-o", str(out), "--gpu", "L40S:2", "--min-containers", "1",
                    "--name", "extractor", "--toggle", "snapshot", "--set", "scaling.concurrency=16")
    assert result.exit_code == 0, result.output
    assert f"modal deploy {out}" in result.output
    source = out.read_text()
    assert "APP_NAME = 'extractor'" in source
    assert "gpu='L40S:2'" in source and "min_containers=1" in source
    assert "@modal.concurrent(max_inputs=16)" in source
    assert "@modal.enter(snap=True)" in source and "enable_memory_snapshot=True" in source
    compile(source, str(out), "exec")


def test_export_to_stdout(tmp_path):
    pytest.importorskip("modal")
    result = invoke("export", "-o", "-", "--gpu", "none")
    assert result.exit_code == 0
    assert result.output.startswith('"""liftinfer on Modal')
    assert "gpu=None" in result.output


def test_a_bad_edit_is_a_one_line_error():
    result = invoke("export", "-o", "-", "--set", "scaling.scaledown_window=1")
    assert result.exit_code == 2
    assert "scaling.scaledown_window: must be 2 to 3600 seconds" in result.output


@pytest.mark.parametrize("args, says", [
    (["--set", "scaling.min_containers"], "--set 'scaling.min_containers': expected PATH=VALUE, e.g. "),
    (["--option", "=1"], "--option '=1': expected KEY=VALUE"),
])
def test_a_malformed_assignment_is_a_one_line_error(args, says):
    result = invoke("export", "-o", "-", *args)
    assert result.exit_code == 2
    assert says in result.output
    assert "Traceback" not in result.output


def test_an_unknown_target_lists_the_available_ones():
    result = invoke("deploy", "--target", "nowhere")
    assert result.exit_code == 2
    assert "unknown target 'nowhere'; available: container, local, modal" in result.output


def test_without_the_modal_package_the_error_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "modal", None)
    result = invoke("export", "-o", "-")
    assert result.exit_code == 3
    assert "pip install 'liftinfer[modal]'" in result.output


# ---- deploy and serve on Modal ----------------------------------------------------------------------

@pytest.mark.parametrize("command", [["deploy", "--target", "modal"], ["serve", "--target", "modal"],
                                     ["cache", "prime", "--target", "modal"]])
def test_without_credentials_modal_commands_say_what_is_missing(command, tmp_path):
    pytest.importorskip("modal")
    result = run_cli(*command, home=tmp_path)
    assert result.returncode == 11
    # modal's own notices (e.g. its Python 3.10 deprecation) may come first; ours is one line, no traceback
    lines = [line for line in result.stderr.strip().splitlines() if "DeprecationError" not in line]
    assert len(lines) == 1 and "Traceback" not in result.stderr
    assert "no Modal credentials found: run `modal token new`" in lines[0]
    assert "MODAL_TOKEN_ID" in lines[0]


class FakeModalCloud:
    """Stands in for Modal's servers: records the apps it is asked to deploy or run."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, fail: BaseException | None = None) -> None:
        import modal

        self.deployed: list[tuple[Any, str]] = []
        self.ran: list[Any] = []
        self.fail = fail
        cloud = self

        def deploy(app: Any, *, name: str | None = None, **_: Any) -> Any:
            if cloud.fail:
                raise cloud.fail
            cloud.deployed.append((app, name))
            return app

        @contextlib.contextmanager
        def run(app: Any, **_: Any) -> Any:
            if cloud.fail:
                raise cloud.fail
            cloud.ran.append(app)
            yield app

        monkeypatch.setattr(modal.App, "deploy", deploy)
        monkeypatch.setattr(modal.App, "run", run)
        monkeypatch.setenv("MODAL_TOKEN_ID", "ak-test")
        monkeypatch.setenv("MODAL_TOKEN_SECRET", "as-test")
        monkeypatch.setattr("liftinfer.targets.modal.web_urls",
                            lambda module: ["https://acme--liftinfer-liftinferserver-web.modal.run"])


def test_deploy_sends_the_rendered_app_and_prints_the_endpoint(monkeypatch):
    pytest.importorskip("modal")
    cloud = FakeModalCloud(monkeypatch)
    result = invoke("deploy", "--name", "extractor", "--min-containers", "1")
    assert result.exit_code == 0, result.output
    (app, name), = cloud.deployed
    assert name == "extractor" and app.name == "extractor"
    assert "endpoint: https://acme--liftinfer-liftinferserver-web.modal.run" in result.output
    assert "proxy auth is on" in result.output


def test_serve_on_modal_runs_the_app_ephemerally_until_interrupted(monkeypatch):
    pytest.importorskip("modal")
    cloud = FakeModalCloud(monkeypatch)
    monkeypatch.setattr("liftinfer.targets.modal._wait_for_interrupt", lambda: None)
    result = invoke("serve", "--target", "modal")
    assert result.exit_code == 0, result.output
    assert len(cloud.ran) == 1 and cloud.ran[0].name == "liftinfer"
    assert "serving ephemerally" in result.output and "endpoint: https://" in result.output


def test_modal_auth_and_network_errors_are_one_line(monkeypatch):
    pytest.importorskip("modal")
    from modal.exception import AuthError

    FakeModalCloud(monkeypatch, fail=AuthError("Token is invalid\nmore detail"))
    result = invoke("deploy")
    assert result.exit_code == 11
    assert "Modal refused the credentials during deploy: Token is invalid" in result.output
    FakeModalCloud(monkeypatch, fail=ConnectionRefusedError(111, "Connection refused"))
    result = invoke("deploy")
    assert result.exit_code == 11
    assert "Modal deploy failed: ConnectionRefusedError" in result.output


def test_web_urls_of_an_app_modal_has_not_seen_are_empty(tmp_path):
    pytest.importorskip("modal")
    from liftinfer.targets.modal import web_urls

    out = tmp_path / "app.py"
    assert invoke("export", "-o", str(out)).exit_code == 0
    from liftinfer.targets.modal import import_app

    assert web_urls(import_app(out)) == []


# ---- build, build-base and serve on a container -------------------------------------------------------

def test_build_writes_a_container_context(tmp_path):
    out = tmp_path / "ctx"
    result = invoke("build", "--target", "container", "-o", str(out))
    assert result.exit_code == 0, result.output
    assert (out / "Dockerfile").exists() and (out / ".dockerignore").exists()
    assert (out / "liftinfer" / "__init__.py").exists()
    assert f"docker build -t liftinfer {out}" in result.output


def test_serve_on_a_container_without_a_docker_engine_says_so(tmp_path):
    result = run_cli("serve", "--target", "container", home=tmp_path)
    assert result.returncode == 11
    assert "cannot serve a container here:" in result.stderr
    assert ("no Docker engine is reachable" in result.stderr or "'docker' command is not installed"
            in result.stderr)
    assert "Traceback" not in result.stderr


def test_build_base_for_containers_without_docker_keeps_the_context_and_says_how(tmp_path, monkeypatch):
    monkeypatch.setattr("liftinfer.targets.container.docker_engine_error",
                        lambda: "no Docker engine is reachable")
    out = tmp_path / "base"
    result = invoke("build-base", "--target", "container", "-o", str(out), "--tag", "acme/liftinfer-base:1")
    assert result.exit_code == 11
    assert "cannot build the base image: no Docker engine is reachable" in result.output
    assert f"docker build -t acme/liftinfer-base:1 {out}" in result.output
    assert "AS base" in (out / "Dockerfile").read_text()


def test_build_base_on_modal_builds_the_base_layers_and_records_the_image_id(tmp_path, monkeypatch):
    pytest.importorskip("modal")
    import modal

    built: list[Any] = []

    class Built:
        object_id = "im-built123"

    def fake_build(image: Any, app: Any = None) -> Any:
        assert app is None  # Modal runs the build in an ephemeral app of its own
        built.append(image)
        return Built()

    FakeModalCloud(monkeypatch)
    monkeypatch.setattr(modal.Image, "build", fake_build)
    result = invoke("build-base", "--target", "modal", "-o", str(tmp_path / "def"))
    assert result.exit_code == 0, result.output
    assert "base image liftinfer-base:0.1.0 built on modal: im-built123" in result.output
    assert "vllm" in (tmp_path / "def" / "base_image.py").read_text()
    exported = tmp_path / "app.py"
    assert invoke("export", "-o", str(exported), "--toggle", "base-image").exit_code == 0
    assert "modal.Image.from_id('im-built123')" in exported.read_text()


def test_the_targets_and_toggles_are_listed(tmp_path):
    listed = run_cli("plugins", "--json", home=tmp_path)
    import json

    found = json.loads(listed.stdout)
    assert {"container", "local", "modal"} <= set(found["targets"])
    assert found["toggles"]["base-image"]["plugin"] == "liftinfer.toggles.base_image"
    assert found["toggles"]["snapshot"]["plugin"] == "liftinfer.toggles.snapshot"
    help_text = run_cli("serve", "--help", home=tmp_path).stdout
    assert "base-image:" in help_text and "snapshot:" in help_text
