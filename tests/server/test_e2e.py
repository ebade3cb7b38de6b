"""End to end: `liftinfer serve` in a subprocess with the real SmolLM2 model, answering over HTTP."""

import json
import os
import subprocess
import sys
import time

import httpx
import jsonschema
import pytest

from tests.conftest import PERSON, free_port

pytestmark = pytest.mark.model

SCHEMAS = [
    PERSON,
    {"type": "object", "properties": {"city": {"type": "string", "maxLength": 30},
                                      "population": {"type": "integer", "minimum": 0}},
     "required": ["city", "population"], "additionalProperties": False},
    {"type": "array", "items": {"enum": ["red", "green", "blue"]}, "minItems": 2, "maxItems": 3},
]


@pytest.fixture(scope="module")
def server(model_cache_dir):
    port = free_port()
    env = {**os.environ, "LIFTINFER_CACHE_DIR": str(model_cache_dir), "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "liftinfer", "serve", "--port", str(port)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 300
    while True:
        assert proc.poll() is None, proc.stdout.read()
        try:
            if httpx.get(f"{url}/health", timeout=5).json().get("warm"):
                break
        except httpx.HTTPError:
            pass
        assert time.monotonic() < deadline, "server did not become ready"
        time.sleep(0.5)
    yield url
    proc.terminate()
    assert proc.wait(60) in (0, -15)  # uvicorn re-raises SIGTERM after its graceful shutdown


def test_health_names_the_embedded_default(server):
    health = httpx.get(f"{server}/health").json()
    assert health["ready"] and health["warm"]
    assert health["model"] == "SmolLM2-135M-Instruct"
    assert health["backend"] == "transformers"
    assert health["startup"]["load_weights_ms"] > 0


def test_concurrent_requests_all_return_valid_json(server):
    import asyncio

    async def run():
        async with httpx.AsyncClient(timeout=300) as client:
            return await asyncio.gather(*(
                client.post(f"{server}/generate", json={"prompt": f"Example number {i}.",
                                                         "schema": SCHEMAS[i % 3], "max_tokens": 64})
                for i in range(6)))

    responses = asyncio.run(run())
    for i, response in enumerate(responses):
        assert response.status_code == 200, response.text
        body = response.json()
        jsonschema.validate(body["data"], SCHEMAS[i % 3])
        assert json.loads(body["text"]) == body["data"]


def test_chat_completions_returns_valid_json_content(server):
    response = httpx.post(f"{server}/v1/chat/completions", timeout=300, json={
        "messages": [{"role": "user", "content": "Describe a person named Carol, 52."}],
        "response_format": {"type": "json_schema", "json_schema": {"name": "person", "schema": PERSON}},
        "max_tokens": 64})
    assert response.status_code == 200, response.text
    jsonschema.validate(json.loads(response.json()["choices"][0]["message"]["content"]), PERSON)


def test_a_bad_request_leaves_the_server_serving(server):
    bad = httpx.post(f"{server}/generate", json={"prompt": "x", "schema": {"type": "integr"}})
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "schema"
    cut = httpx.post(f"{server}/generate", json={"prompt": "A person.", "schema": PERSON, "max_tokens": 2},
                     timeout=300)
    assert cut.status_code == 422 and cut.json()["error"]["details"]["finish_reason"] == "length"
    good = httpx.post(f"{server}/generate", json={"prompt": "A person.", "schema": PERSON, "max_tokens": 64},
                      timeout=300)
    assert good.status_code == 200
    jsonschema.validate(good.json()["data"], PERSON)


def test_metrics_show_the_traffic(server):
    text = httpx.get(f"{server}/metrics").text
    assert 'liftinfer_requests_total{endpoint="/generate",status="200"}' in text
    assert "liftinfer_grammar_cache_hits_total" in text
