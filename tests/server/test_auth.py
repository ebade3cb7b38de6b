"""The optional API key: Bearer, on every endpoint but health and the docs, and never in a log line."""

import subprocess
import sys
import threading

import httpx
import pytest
import uvicorn

from liftinfer.config import ServeConfig
from liftinfer.errors import ConfigError
from liftinfer.server import create_app
from liftinfer.server.auth import load_api_key
from tests.conftest import ThreadedServer
from tests.server.support import GOOD, assert_error, grammar_engine, serving

pytestmark = pytest.mark.grammar

KEY = "sk-test-7f3a9c1e55d04b2a"
WRONG = "sk-wrong-0000000000000000"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    engine = grammar_engine(tmp_path_factory.mktemp("cache"))
    with serving(engine, api_key=KEY) as running:
        yield running


@pytest.fixture
def client(server):
    with httpx.Client(base_url=server.url, timeout=30) as http:
        yield http


def bearer(key=KEY):
    return {"authorization": f"Bearer {key}"}


@pytest.mark.parametrize("method, path", [("POST", "/generate"), ("POST", "/v1/chat/completions"),
                                          ("POST", "/warmup"), ("GET", "/metrics"), ("GET", "/nowhere")])
@pytest.mark.parametrize("headers, says", [
    ({}, "needs an API key"),
    (bearer(WRONG), "not valid"),
    ({"authorization": f"Basic {KEY}"}, "needs an API key"),
    ({"authorization": "Bearer"}, "needs an API key"),
    (bearer(KEY[:-1]), "not valid"),
], ids=["none", "wrong", "basic scheme", "empty", "prefix of the key"])
def test_protected_endpoints_refuse_without_the_key(client, method, path, headers, says):
    response = client.request(method, path, json=GOOD, headers=headers)
    error = assert_error(response, 401, "unauthorized", "authorization", says)
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert KEY not in response.text and WRONG not in response.text
    assert error["details"] == {}


def test_the_key_opens_them(client):
    assert client.post("/generate", json=GOOD, headers=bearer()).status_code == 200
    assert client.post("/generate", json=GOOD, headers={"authorization": f"bearer  {KEY}"}).status_code == 200
    assert client.get("/metrics", headers=bearer()).status_code == 200


@pytest.mark.parametrize("path", ["/health", "/openapi.json", "/docs"])
def test_health_and_the_api_description_stay_open(client, path):
    assert client.get(path).status_code == 200


def test_the_key_is_checked_before_the_body_is_read(client):
    big = b"x" * (3 * 2**20)
    response = client.post("/generate", content=big, headers={"content-type": "application/json"})
    assert_error(response, 401, "unauthorized")


def test_refusals_are_counted(client):
    client.post("/generate", json=GOOD)
    metrics = client.get("/metrics", headers=bearer()).text
    assert 'liftinfer_errors_total{type="unauthorized"}' in metrics


def test_the_key_never_reaches_the_log(tmp_path, caplog, capfd):
    caplog.set_level(1)
    engine = grammar_engine(tmp_path)
    app = create_app(engine, serve_config=ServeConfig(api_key=KEY, warmup_on_start=False))
    server = ThreadedServer(app)
    # uvicorn at its most verbose, access log on: its handlers write to stderr, the rest reaches caplog
    server.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=server.port, log_level="trace",
                                                  access_log=True))
    server.thread = threading.Thread(target=server.server.run, daemon=True)
    with server, httpx.Client(base_url=server.url, timeout=30) as client:
        assert client.post("/generate", json=GOOD, headers=bearer()).status_code == 200
        assert client.post("/generate", json=GOOD, headers=bearer(WRONG)).status_code == 401
        assert client.post("/generate", content=b"{", headers=bearer()).status_code == 400
    captured = capfd.readouterr()
    logged = caplog.text + captured.out + captured.err
    assert '"POST /generate HTTP/1.1" 401' in logged  # the access log was captured
    assert KEY not in logged and WRONG not in logged
    assert KEY not in repr(ServeConfig(api_key=KEY))


def test_the_key_can_come_from_a_file(tmp_path):
    path = tmp_path / "key"
    path.write_text(f"{KEY}\n")
    assert load_api_key(ServeConfig(api_key_file=path)) == KEY
    assert load_api_key(ServeConfig()) is None
    path.write_text("  \n")
    with pytest.raises(ConfigError, match="is empty"):
        load_api_key(ServeConfig(api_key_file=path))
    with pytest.raises(ConfigError, match="cannot be read"):
        load_api_key(ServeConfig(api_key_file=tmp_path / "missing"))


def test_serve_with_a_missing_key_file_fails_with_a_message(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "liftinfer", "serve", "--api-key-file", str(tmp_path / "missing"),
         "--port", "0"],
        capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 2
    assert "api_key_file" in result.stderr and "cannot be read" in result.stderr
    assert "Traceback" not in result.stderr
