"""The pytest fixtures liftinfer ships for plugin authors (liftinfer.testing)."""

from __future__ import annotations

import httpx

from liftinfer import hookimpl
from liftinfer.backends import Backend
from liftinfer.config import EngineConfig
from liftinfer.pluginmanager import get_plugins
from liftinfer.testing import FakeEngine

pytest_plugins = ["pytester"]

PERSON = {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]}


class EchoPlugin:
    @hookimpl
    def liftinfer_register_backends(self, register):
        register(Backend(name="echo", load=lambda: FakeEngine, description="echoes"))


def test_liftinfer_plugins_is_the_process_wide_manager_for_the_test(liftinfer_plugins):
    assert get_plugins() is liftinfer_plugins
    assert "transformers" in liftinfer_plugins.backends()


def test_register_plugin_adds_a_backend_that_load_engine_uses(register_plugin, tmp_path):
    from liftinfer import load_engine

    assert register_plugin(EchoPlugin(), name="echo") == "echo"
    engine = load_engine(backend="echo", cache_dir=tmp_path)
    try:
        assert engine.generate("x", schema={"type": "object"}).data == {"ok": True}
    finally:
        engine.close()


def test_fake_engine_validates_and_records(fake_engine):
    fake_engine.respond = lambda prepared: '{"name": "Ada"}'
    assert fake_engine.generate("who?", schema=PERSON).data == {"name": "Ada"}
    assert fake_engine.requests[-1].request.prompt == "who?"


def test_liftinfer_server_serves_an_engine_on_loopback(fake_engine, liftinfer_server):
    server = liftinfer_server(fake_engine)
    assert server.url.startswith("http://127.0.0.1:")
    assert httpx.get(f"{server.url}/health").json()["ready"] is True
    reply = httpx.post(f"{server.url}/generate", json={"prompt": "x", "schema": {"type": "object"}})
    assert reply.status_code == 200
    assert reply.json()["data"] == {"ok": True}


def test_liftinfer_server_returns_once_an_unloaded_engine_is_ready(liftinfer_server, tmp_path):
    engine = FakeEngine(config=EngineConfig(cache_dir=tmp_path))
    server = liftinfer_server(engine)
    assert engine.ready
    assert httpx.get(f"{server.url}/health").status_code == 200


def test_liftinfer_server_with_an_engine_that_fails_to_load_answers_503(liftinfer_server, tmp_path):
    class Broken(FakeEngine):
        def _load(self):
            raise RuntimeError("no model here")

    server = liftinfer_server(Broken(config=EngineConfig(cache_dir=tmp_path)), ready_timeout=20)
    reply = httpx.post(f"{server.url}/generate", json={"prompt": "x", "schema": {"type": "object"}})
    assert reply.status_code == 503
    assert "no model here" in reply.json()["error"]["message"]


def test_fixtures_reach_a_plugin_suite_without_imports_and_clean_up(pytester):
    """A plugin suite gets the fixtures from the pytest11 entry point; registrations end with the test."""
    pytester.makepyfile(
        """
        from liftinfer import hookimpl
        from liftinfer.backends import Backend
        from liftinfer.testing import FakeEngine

        class Echo:
            @hookimpl
            def liftinfer_register_backends(self, register):
                register(Backend(name="echo", load=lambda: FakeEngine))

        def test_registered(liftinfer_plugins, register_plugin):
            register_plugin(Echo(), name="echo")
            assert "echo" in liftinfer_plugins.backends()

        def test_gone_in_the_next_test(liftinfer_plugins):
            assert "echo" not in liftinfer_plugins.backends()

        def test_server(fake_engine, liftinfer_server):
            import httpx

            assert httpx.get(liftinfer_server(fake_engine).url + "/health").status_code == 200
        """
    )
    pytester.runpytest_inprocess().assert_outcomes(passed=3)
