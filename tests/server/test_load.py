"""Many concurrent clients against the real CPU model over loopback: every request gets an answer — a
result or a clear overload error with Retry-After — none is lost, and the server stays up.

(The sustained figures in docs/reliability.md come from ``benchmarks/load.py``; this test holds one
burst, bounded in time.)
"""

import asyncio
import json
import time

import httpx
import pytest

from tests.server.support import assert_error, serving_shared

pytestmark = pytest.mark.model

SMALL = {"type": "object", "properties": {"ok": {"type": "boolean"}}, "required": ["ok"],
         "additionalProperties": False}
CLIENTS = 64
MAX_QUEUE = 4  # small, so that most of the burst meets a full queue


@pytest.fixture
def server(real_engine):
    previous = real_engine.config.max_queue
    real_engine.config.max_queue = MAX_QUEUE
    try:
        with serving_shared(real_engine) as running:
            yield running
    finally:
        real_engine.config.max_queue = previous


async def burst(url, clients):
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=url, timeout=120, limits=limits) as client:
        async def one(i):
            start = time.monotonic()
            body = {"prompt": f"Client {i}: is the sky blue?", "schema": SMALL, "max_tokens": 16}
            response = await client.post("/generate", json=body)
            return response, time.monotonic() - start

        return await asyncio.gather(*(one(i) for i in range(clients)), return_exceptions=True)


def test_a_burst_of_clients_gets_results_or_clear_overload_errors(server):
    answers = asyncio.run(burst(server.url, CLIENTS))
    lost = [a for a in answers if isinstance(a, BaseException)]
    assert not lost, lost[:3]
    statuses = [r.status_code for r, _ in answers]
    assert set(statuses) <= {200, 429}, statuses
    assert statuses.count(200) >= MAX_QUEUE  # the admitted ones are answered, not dropped
    for response, elapsed in answers:
        if response.status_code == 429:
            assert_error(response, 429, "overloaded")
            assert int(response.headers["Retry-After"]) >= 1
            assert elapsed < 5  # refused at once, not after queueing
        else:
            assert isinstance(response.json()["data"]["ok"], bool)
    with httpx.Client(base_url=server.url, timeout=120) as client:
        assert client.get("/health").json()["in_flight"] == 0
        good = client.post("/generate", json={"prompt": "Is it?", "schema": SMALL, "max_tokens": 16})
        assert good.status_code == 200


def test_a_prompt_longer_than_the_context_is_refused_before_decoding(server):
    with httpx.Client(base_url=server.url, timeout=120) as client:
        start = time.monotonic()
        response = client.post("/generate", json={"prompt": "word " * 20_000, "schema": SMALL})
        assert_error(response, 400, "invalid_request", "prompt", "exceeds the model's context of 4096 tokens")
        assert time.monotonic() - start < 10
        good = client.post("/generate", json={"prompt": "Is it?", "schema": SMALL, "max_tokens": 16})
        assert json.loads(good.json()["text"]) == good.json()["data"]
