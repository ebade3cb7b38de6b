"""The HTTP API's contract, on a model-free engine (the real model's end-to-end tests are in test_e2e.py)."""

import json

import pytest
from fastapi.testclient import TestClient

from liftinfer.config import EngineConfig, ServeConfig
from liftinfer.server import create_app
from liftinfer.testing import FakeEngine
from tests.conftest import PERSON
from tests.server.support import person_or_ok


@pytest.fixture
def client(tmp_path):
    engine = FakeEngine(person_or_ok, config=EngineConfig(cache_dir=tmp_path))
    with TestClient(create_app(engine, serve_config=ServeConfig(warmup_on_start=False))) as c:
        c.get("/health")
        engine.wait_ready(10)
        yield c


def test_generate_returns_data_text_usage_and_timings(client):
    body = client.post("/generate", json={"prompt": "a person", "schema": PERSON}).json()
    assert body["data"] == {"name": "Ann", "age": 3}
    assert json.loads(body["text"]) == body["data"]
    assert body["finish_reason"] == "stop"
    assert body["usage"]["total_tokens"] == body["usage"]["prompt_tokens"] + body["usage"]["completion_tokens"]
    assert set(body["timings"]) == {"compile_ms", "queue_ms", "generate_ms", "total_ms"}
    assert body["model"] == "fake-model" and body["backend"] == "fake"
    assert {"properties", "required", "maxLength"} <= set(body["enforcement"]["grammar"])
    assert body["enforcement"]["validation_only"] == []


def test_sampling_fields_reach_the_engine(client):
    engine = client.app.state.engine
    client.post("/generate", json={"messages": [{"role": "user", "content": "hi"}], "schema": PERSON,
                                   "max_tokens": 33, "temperature": 0.5, "top_p": 0.8, "seed": 4, "stop": "X"})
    prepared = engine.requests[-1]
    assert prepared.max_tokens == 33 and prepared.temperature == 0.5 and prepared.seed == 4
    assert prepared.request.top_p == 0.8 and prepared.request.stop == ["X"]
    assert prepared.chat == [{"role": "user", "content": "hi"}]


def test_chat_completions_with_openai_response_format(client):
    body = client.post("/v1/chat/completions", json={
        "model": "anything", "messages": [{"role": "user", "content": "a person"}],
        "response_format": {"type": "json_schema", "json_schema": {"name": "person", "schema": PERSON,
                                                                   "strict": True}},
        "max_completion_tokens": 50, "temperature": 0}).json()
    assert body["object"] == "chat.completion"
    assert body["choices"][0]["message"]["role"] == "assistant"
    assert json.loads(body["choices"][0]["message"]["content"]) == {"name": "Ann", "age": 3}
    assert body["choices"][0]["finish_reason"] == "stop"
    assert body["usage"]["total_tokens"] > 0
    assert client.app.state.engine.requests[-1].max_tokens == 50


def test_chat_completions_json_object_means_any_object(client):
    body = client.post("/v1/chat/completions", json={
        "messages": [{"role": "user", "content": "x"}], "response_format": {"type": "json_object"}})
    assert body.status_code == 200
    assert client.app.state.engine.requests[-1].constraint.schema == {"type": "object"}


@pytest.mark.parametrize("fmt", [None, {"type": "text"}, {"type": "json_schema"}])
def test_chat_completions_without_a_schema_is_a_clear_400(client, fmt):
    body = {"messages": [{"role": "user", "content": "x"}]}
    if fmt is not None:
        body["response_format"] = fmt
    response = client.post("/v1/chat/completions", json=body)
    assert response.status_code == 400
    assert response.json()["error"]["field"].startswith("response_format")


def test_streaming_is_refused_clearly(client):
    response = client.post("/v1/chat/completions", json={
        "messages": [{"role": "user", "content": "x"}], "stream": True, "response_format": {"type": "json_object"}})
    assert response.status_code == 400
    assert response.json()["error"]["field"] == "stream"


def test_health_reports_model_backend_and_startup(client):
    body = client.get("/health").json()
    assert body["ready"] is True and body["status"] == "ready"
    assert body["model"] == "fake-model" and body["backend"] == "fake"
    assert "total_ms" in body["startup"]


def test_health_is_503_until_ready_and_names_a_failed_load(tmp_path):
    class Broken(FakeEngine):
        def _load(self):
            raise RuntimeError("no weights here")

    engine = Broken(config=EngineConfig(cache_dir=tmp_path))
    with TestClient(create_app(engine, serve_config=ServeConfig(warmup_on_start=False, load_wait_s=1))) as c:
        for _ in range(100):
            if engine.state == "failed":
                break
            import time

            time.sleep(0.05)
        health = c.get("/health")
        assert health.status_code == 503
        assert "no weights here" in health.json()["error"]
        response = c.post("/generate", json={"prompt": "x", "schema": PERSON})
        assert response.status_code == 503
        assert response.json()["error"]["type"] == "not_ready"
        assert "no weights here" in response.json()["error"]["message"]


def test_warmup_is_idempotent_and_reports_time(client):
    first = client.post("/warmup").json()
    second = client.post("/warmup").json()
    assert first["warm"] and not first["already_warm"] and first["total_ms"] >= 0
    assert second["already_warm"]
    assert client.get("/health").json()["warm"] is True


def test_metrics_count_requests_errors_tokens_and_cache_hits(client):
    client.post("/generate", json={"prompt": "x", "schema": PERSON})
    client.post("/generate", json={"prompt": "x", "schema": PERSON})
    client.post("/generate", json={"prompt": "x"})
    text = client.get("/metrics").text
    assert 'liftinfer_requests_total{endpoint="/generate",status="200"} 2.0' in text
    assert 'liftinfer_requests_total{endpoint="/generate",status="400"} 1.0' in text
    assert 'liftinfer_errors_total{type="invalid_request"} 1.0' in text
    assert 'liftinfer_tokens_total{kind="completion"}' in text
    assert "liftinfer_grammar_cache_hits_total 1.0" in text
    assert "liftinfer_grammar_cache_misses_total 1.0" in text
    assert 'liftinfer_request_duration_seconds_count{endpoint="/generate"} 3.0' in text
    assert "liftinfer_ready 1.0" in text


def test_unknown_paths_and_methods_use_the_one_error_shape(client):
    for response in (client.get("/nope"), client.get("/generate")):
        assert response.status_code in (404, 405)
        assert set(response.json()["error"]) == {"type", "message", "field", "details"}


def test_openapi_documents_the_endpoints(client):
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/generate", "/v1/chat/completions", "/health", "/warmup", "/metrics"} <= set(paths)
