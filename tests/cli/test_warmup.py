"""``liftinfer warmup`` end to end: exit codes and output against real servers on loopback, and against a
real ``liftinfer serve`` (local target, the embedded model) in its own process."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import pytest
from click.testing import CliRunner

from liftinfer.cli import cli
from tests.conftest import PERSON, free_port
from tests.test_warmup import GatedEngine, key_checking_app, serve

SRC = str(Path(__file__).resolve().parents[2] / "src")


def warmup(*args: str) -> Any:
    return CliRunner().invoke(cli, ["warmup", *args], catch_exceptions=False)


@pytest.fixture
def engine(tmp_path: Path) -> Any:
    from liftinfer.config import EngineConfig

    engine = GatedEngine(config=EngineConfig(cache_dir=tmp_path))
    yield engine
    engine.gate.set()


def test_ready_exits_0_and_says_how_long_the_warm_up_took(serve_app, engine):
    url = serve(serve_app, engine)
    threading.Timer(0.5, engine.gate.set).start()
    result = warmup(url, "--timeout", "20")
    assert result.exit_code == 0
    assert result.output.startswith(f"{url} is warm (warm-up ")


def test_json_output_for_scripts(serve_app, engine):
    engine.gate.set()
    result = warmup(serve(serve_app, engine), "--json")
    outcome = json.loads(result.output)
    assert result.exit_code == 0
    assert outcome["outcome"] == "ready" and outcome["exit_code"] == 0 and outcome["report"]["warm"] is True


def test_check_exits_0_without_warming(serve_app, engine):
    engine.gate.set()
    result = warmup(serve(serve_app, engine), "--check")
    assert result.exit_code == 0 and "is ready" in result.output
    assert engine.warmups == 0


def test_timed_out_exits_3(serve_app, engine):
    result = warmup(serve(serve_app, engine), "--timeout", "1.5")
    assert result.exit_code == 3
    assert "did not become ready within 1.5 s (status loading)" in result.output


def test_unreachable_exits_4():
    result = warmup(f"http://127.0.0.1:{free_port()}", "--check", "--timeout", "1")
    assert result.exit_code == 4
    assert "did not answer within 1 s" in result.output


def test_unauthorized_exits_5_and_credentials_let_it_through(serve_app):
    url = serve_app(key_checking_app()).url
    result = warmup(url)
    assert result.exit_code == 5 and "refused the credentials (HTTP 401)" in result.output
    assert warmup(url, "--api-key", "sesame").exit_code == 0


def test_modal_proxy_auth_headers(serve_app):
    url = serve_app(key_checking_app("Modal-Key", "wk-1")).url
    assert warmup(url, "--header", "Modal-Key: wk-1").exit_code == 0
    bad = warmup(url, "--header", "Modal-Key")
    assert bad.exit_code == 2 and "expected NAME:VALUE" in bad.output


def test_async_fires_and_returns(serve_app, tmp_path):
    from liftinfer.config import EngineConfig

    slow = GatedEngine(config=EngineConfig(cache_dir=tmp_path), slow_warmup=5.0)
    slow.gate.set()
    url = serve(serve_app, slow)
    result = warmup(url, "--async")
    assert result.exit_code == 0 and f"warm-up requested from {url}" in result.output


def test_a_url_without_a_scheme_is_a_usage_error():
    result = warmup("localhost:8000")
    assert result.exit_code == 2 and "must start with http:// or https://" in result.output


@pytest.mark.model
def test_liftinfer_serve_locally_then_warm_it_up(model_cache_dir: Path) -> None:
    """The real command lines: `liftinfer serve` on loopback (the embedded model), then `liftinfer warmup`."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "PYTHONPATH": SRC, "LIFTINFER_CACHE_DIR": str(model_cache_dir)}
    env.pop("LIFTINFER_TOGGLES", None)
    server = subprocess.Popen([sys.executable, "-m", "liftinfer", "serve", "--port", str(port), "--no-warmup",
                               "--backend", "transformers"], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True)

    def cli_run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "liftinfer", "warmup", url, *args], env=env,
                              capture_output=True, text=True, timeout=400)

    try:
        warm = cli_run("--timeout", "300", "--json")
        assert warm.returncode == 0, warm.stdout + warm.stderr
        report = json.loads(warm.stdout)
        assert report["outcome"] == "ready" and report["report"]["already_warm"] is False
        assert cli_run("--check").returncode == 0
        again = cli_run("--async")
        assert again.returncode == 0 and "warm-up requested" in again.stderr + again.stdout
        response = httpx.post(f"{url}/generate", json={"prompt": "Invent a person.", "schema": PERSON,
                                                       "max_tokens": 48}, timeout=120)
        assert response.status_code == 200, response.text
        jsonschema.validate(response.json()["data"], PERSON)
        health = httpx.get(f"{url}/health").json()
        assert health["backend"] == "transformers" and health["warm"]
    finally:
        server.send_signal(signal.SIGINT)
        output, _ = server.communicate(timeout=60)
    assert server.returncode == 0, output
