"""SIGTERM on a real ``liftinfer serve`` with the real model: requests in flight all get their answer,
new connections are refused at once, and the process exits 0 (and never logged the API key)."""

import concurrent.futures as cf
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

import liftinfer
from tests.conftest import free_port

pytestmark = pytest.mark.model

KEY = "sk-shutdown-test-4d1c2b"
IN_FLIGHT = 4
# ~13 tokens each: long enough to be mid-decode when the signal comes
SIX_DIGITS = {"type": "array", "items": {"type": "integer", "minimum": 0, "maximum": 9},
              "minItems": 6, "maxItems": 6}


@pytest.fixture
def server(model_cache_dir, tmp_path):
    port = free_port()
    src = str(Path(liftinfer.__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([src, os.environ.get("PYTHONPATH", "")]),
           "LIFTINFER_API_KEY": KEY, "LIFTINFER_CACHE_DIR": str(model_cache_dir),
           "LIFTINFER_SHUTDOWN_GRACE_S": "120", "LIFTINFER_THREADS": "1"}
    log = (tmp_path / "server.log").open("w+")
    proc = subprocess.Popen(
        [sys.executable, "-m", "liftinfer", "serve", "--backend", "transformers", "--port", str(port),
         "--no-warmup"], env=env, stdout=log, stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(url, proc)
        yield proc, url, log
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        log.close()


def _wait_ready(url, proc, timeout=180):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, "the server exited while starting"
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise AssertionError("the server did not become ready")


def _generate(url, i):
    body = {"prompt": f"Six digits, please ({i}).", "schema": SIX_DIGITS, "max_tokens": 32}
    return httpx.post(f"{url}/generate", json=body, headers={"authorization": f"Bearer {KEY}"}, timeout=300)


def test_sigterm_drains_in_flight_requests_and_exits_0(server):
    proc, url, log = server
    with cf.ThreadPoolExecutor(IN_FLIGHT) as pool:
        pending = [pool.submit(_generate, url, i) for i in range(IN_FLIGHT)]
        deadline = time.monotonic() + 60
        while httpx.get(f"{url}/health", timeout=5).json()["in_flight"] < IN_FLIGHT:
            assert time.monotonic() < deadline and not any(f.done() for f in pending), "not in flight"
            time.sleep(0.05)
        proc.send_signal(signal.SIGTERM)
        time.sleep(0.5)
        start = time.monotonic()
        try:
            late = httpx.get(f"{url}/health", timeout=5)
            assert late.status_code == 503, "a new request after SIGTERM must not be served as usual"
        except httpx.ConnectError:
            pass  # refused: the listening socket is closed
        assert time.monotonic() - start < 5, "a new connection after SIGTERM hung"
        responses = [f.result() for f in pending]
    assert [r.status_code for r in responses] == [200] * IN_FLIGHT, [r.text[:200] for r in responses]
    for response in responses:
        data = response.json()["data"]
        assert len(data) == 6 and all(0 <= d <= 9 for d in data)
        assert json.loads(response.json()["text"]) == data
    assert proc.wait(timeout=120) == 0
    log.seek(0)
    output = log.read()
    assert "Shutting down" in output or "Waiting for" in output, output[-2000:]
    assert KEY not in output
