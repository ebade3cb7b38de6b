"""create_app's start-up: where the engine's requests run, and the warm-up of an engine loaded before."""

import httpx
import pytest

from liftinfer.config import EngineConfig, ServeConfig
from liftinfer.server import create_app
from liftinfer.testing import ThreadedServer
from tests.conftest import PERSON, WhereEngine
from tests.server.support import person_or_ok


@pytest.mark.parametrize(("shared_loop", "where"), [(True, "server"), (False, "liftinfer-engine-loop")])
def test_requests_run_on_the_servers_loop_unless_shared_loop_is_off(tmp_path, shared_loop, where):
    engine = WhereEngine(person_or_ok, config=EngineConfig(cache_dir=tmp_path))
    app = create_app(engine, serve_config=ServeConfig(warmup_on_start=True, shared_loop=shared_loop))
    server = ThreadedServer(app)
    server.thread.name = "server"
    with server, httpx.Client(base_url=server.url, timeout=30) as client:
        assert engine.wait_ready(10)
        responses = [client.post("/generate", json={"prompt": "a person", "schema": PERSON}) for _ in range(3)]
        assert [r.json()["data"]["age"] for r in responses] == [3, 3, 3]
        assert client.get("/health").json()["warm"]
    # the warm-up (from the loading thread) and every request ran on one loop, in one thread
    assert engine.threads == [where] * 4
    assert engine.state == "closed"


def test_an_engine_loaded_before_the_server_is_warmed_up_before_it_answers(tmp_path):
    engine = WhereEngine(person_or_ok, config=EngineConfig(cache_dir=tmp_path)).load()  # as a Modal enter does
    server = ThreadedServer(create_app(engine, serve_config=ServeConfig()))
    server.thread.name = "server"
    with server:
        assert engine.warmup_report is not None and engine.threads == ["server"]
