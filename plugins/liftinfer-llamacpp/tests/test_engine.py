"""The llamacpp backend generating with the embedded SmolLM2 GGUF under liftinfer's constraints."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time

import httpx
import pytest

from liftinfer import GenerateRequest
from liftinfer.plugin import RequestError
from liftinfer.testing import free_port

pytestmark = pytest.mark.model

PERSON = {
    "type": "object",
    "properties": {"name": {"type": "string", "maxLength": 30},
                   "age": {"type": "integer", "minimum": 0, "maximum": 130}},
    "required": ["name", "age"],
    "additionalProperties": False,
}

FUNCTION = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "pattern": "^[a-z_][a-z0-9_]*$", "maxLength": 40},
        "args": {"type": "array", "items": {"type": "string", "maxLength": 20}, "maxItems": 4},
        "returns": {"enum": ["int", "str", "bool", "list", "None"]},
    },
    "required": ["name", "args", "returns"],
    "additionalProperties": False,
}


def test_generates_json_that_validates(engine):
    result = engine.generate("A person named Ada Lovelace, aged 36.", schema=PERSON, max_tokens=64)
    assert set(result.data) == {"name", "age"}
    assert 0 <= result.data["age"] <= 130
    assert result.finish_reason == "stop"
    assert result.backend == "llamacpp"
    assert result.model == "SmolLM2-135M-Instruct"
    assert result.usage.prompt_tokens > 10
    # constrained decoding may spell the JSON in more tokens than the tokenizer would; never in fewer chars
    assert len(engine.model.tokenize(result.text)) < result.usage.completion_tokens <= len(result.text) + 1


def test_greedy_is_deterministic(engine):
    runs = [engine.generate("A person named Bob, 41.", schema=PERSON, max_tokens=64) for _ in range(3)]
    # the first run may decode part of the prompt in a larger batch (other rounding); later ones reuse it
    assert runs[1].text == runs[2].text
    assert runs[0].data["name"] == runs[1].data["name"]


def test_a_repeated_prompt_reuses_the_cached_prefix(engine):
    engine.generate("A person named Cleo, 33.", schema=PERSON, max_tokens=64)
    before = engine.step_stats()
    result = engine.generate("A person named Cleo, 33.", schema=PERSON, max_tokens=64)
    after = engine.step_stats()
    assert after["prompt_tokens_reused"] - before["prompt_tokens_reused"] == result.usage.prompt_tokens - 1
    assert after["tokens_in"] - before["tokens_in"] == result.usage.completion_tokens  # 1 prompt + generated


def test_a_seed_makes_sampling_reproducible(engine):
    options = {"temperature": 1.0, "top_p": 0.9, "seed": 7, "max_tokens": 64}
    runs = [engine.generate("Invent a person.", schema=PERSON, **options) for _ in range(2)]
    assert runs[0].text == runs[1].text


def test_max_tokens_cuts_with_finish_reason_length(engine):
    from liftinfer.plugin import LiftinferError

    with pytest.raises(LiftinferError) as info:
        engine.generate("A person named Ada Lovelace.", schema=PERSON, max_tokens=3)
    assert info.value.details["finish_reason"] == "length"


def test_a_stop_string_ends_generation(engine):
    with pytest.raises(Exception) as info:
        engine.generate("A person named Ada.", schema=PERSON, stop=['"age"'], max_tokens=64, strict=True)
    assert info.value.details["finish_reason"] == "stop_string"
    assert '"age"' not in info.value.details["text"]


def test_a_batch_of_different_schemas_all_validates(engine):
    tasks = ("reverse a string", "check if a number is prime", "merge two lists")
    requests = [{"prompt": f"Describe a Python function that will {task}.", "schema": FUNCTION,
                 "max_tokens": 96} for task in tasks]
    requests += [{"prompt": f"A person named {name}.", "schema": PERSON, "max_tokens": 64}
                 for name in ("Bob, 41", "Eve, 29", "Zed, 90")]
    results = engine.generate_batch(requests)
    assert all(not isinstance(r, Exception) for r in results), results
    assert [set(r.data) for r in results[:3]] == [{"name", "args", "returns"}] * 3
    assert all(set(r.data) == {"name", "age"} for r in results[3:])


def test_concurrent_requests_match_their_sequential_answers(engine):
    prompts = [f"A person named {name}." for name in ("Ann, 30", "Ben, 50", "Cid, 70")]
    alone = [engine.generate(p, schema=PERSON, max_tokens=48).data for p in prompts]
    together = engine.generate_batch([{"prompt": p, "schema": PERSON, "max_tokens": 48} for p in prompts])
    # one llama_decode batch may round differently from a single sequence; the names come from the prompts
    assert [r.data["name"] for r in together] == [a["name"] for a in alone]


def test_a_cancelled_request_frees_its_slot(engine):
    async def cancel_one():
        request = GenerateRequest(prompt="Invent a long name.", schema=PERSON, max_tokens=200)
        task = asyncio.ensure_future(engine.agenerate(request))
        await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(cancel_one())
    deadline = time.monotonic() + 10
    while len(engine._scheduler.free) < engine.model.n_seq and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(engine._scheduler.free) == engine.model.n_seq
    assert engine.generate("A person named Ada, 36.", schema=PERSON, max_tokens=64).finish_reason == "stop"


def test_a_closed_model_refuses_calls_instead_of_crashing(model_cache_dir):
    from liftinfer import load_engine
    from liftinfer.plugin import NotReady

    engine = load_engine(backend="llamacpp", cache_dir=model_cache_dir, max_batch_size=1, max_model_len=256)
    engine.close()
    with pytest.raises(NotReady):
        engine.model.tokenize("hello")
    with pytest.raises(NotReady):
        engine.generate("A person.", schema=PERSON)


def test_a_bad_engine_option_is_a_config_error(model_cache_dir):
    from liftinfer import load_engine
    from liftinfer.plugin import ConfigError

    with pytest.raises(ConfigError, match="n_ctx must be a positive integer"):
        load_engine(backend="llamacpp", cache_dir=model_cache_dir, engine_options={"n_ctx": "big"})


def test_a_prompt_longer_than_the_context_is_a_request_error(engine):
    with pytest.raises(RequestError, match="context"):
        engine.generate("word " * 1200, schema=PERSON, max_tokens=8)


def test_step_stats_say_where_the_time_goes(engine):
    engine.generate("A person named Ada, 36.", schema=PERSON, max_tokens=64)
    stats = engine.step_stats()
    assert stats["steps"] > 0 and stats["tokens_out"] > 0
    assert stats["decode_s"] > stats["fill_mask_s"]


def test_served_over_http(model_cache_dir, liftinfer_server):
    from liftinfer import load_engine

    # its own engine: stopping the server closes the engine it serves
    engine = load_engine(backend="llamacpp", cache_dir=model_cache_dir, max_batch_size=1, max_model_len=512,
                         load=False)
    server = liftinfer_server(engine)
    reply = httpx.post(f"{server.url}/generate", timeout=120,
                       json={"prompt": "A person named Ada, 36.", "schema": PERSON, "max_tokens": 64})
    assert reply.status_code == 200, reply.text
    assert reply.json()["backend"] == "llamacpp"
    health = httpx.get(f"{server.url}/health").json()
    assert health["backend"] == "llamacpp"
    assert health["llamacpp"]["slots"] == 1 and health["llamacpp"]["steps"]["tokens_out"] > 0


def test_liftinfer_serve_backend_llamacpp(model_cache_dir, tmp_path):
    """The command a user runs: ``liftinfer serve --backend llamacpp`` serves the embedded model."""
    port = free_port()
    env = {**os.environ, "LIFTINFER_CACHE_DIR": str(model_cache_dir), "LIFTINFER_MAX_BATCH_SIZE": "2",
           "LIFTINFER_MAX_MODEL_LEN": "1024"}
    log = (tmp_path / "serve.log").open("w")
    command = [sys.executable, "-m", "liftinfer", "serve", "--backend", "llamacpp", "--port", str(port),
               "--no-warmup"]
    proc = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{url}/health", timeout=2).json().get("ready"):
                    break
            except httpx.HTTPError:
                pass
            assert proc.poll() is None, (tmp_path / "serve.log").read_text()
            time.sleep(0.5)
        reply = httpx.post(f"{url}/generate", timeout=120,
                           json={"prompt": "A person named Ada, 36.", "schema": PERSON, "max_tokens": 64})
        assert reply.status_code == 200, reply.text
        assert reply.json()["backend"] == "llamacpp"
        assert reply.json()["model"] == "SmolLM2-135M-Instruct"
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()
