"""pytest fixtures for people who write liftinfer plugins (loaded automatically as a pytest plugin).

Installing liftinfer registers this module under pytest's ``pytest11`` entry point, so a plugin's own
test suite gets these fixtures without importing anything:

- ``liftinfer_plugins``: a fresh plugin manager (built-ins plus installed entry points) that is also the
  process-wide one for the test, so ``load_engine`` and the CLI see it.
- ``register_plugin``: ``register_plugin(obj, name=None)`` registers a plugin for one test only.
- ``fake_engine``: a loaded :class:`FakeEngine` that answers with fixed JSON, for server-only tests.
- ``liftinfer_server``: ``liftinfer_server(engine)`` serves an engine over HTTP on loopback (uvicorn in a
  thread, free port) and returns a :class:`ThreadedServer` with ``.url``; stopped after the test.

``docs/plugins.md`` shows each in use.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import pytest

from liftinfer.engine.base import Completion, GenerationEngine, PreparedRequest

if TYPE_CHECKING:
    from liftinfer.config import ServeConfig
    from liftinfer.pluginmanager import Plugins

__all__ = ["FakeEngine", "ThreadedServer", "free_port"]


class FakeEngine(GenerationEngine):
    """An engine without a model: ``respond(prepared)`` returns the text it 'generates'.

    ``respond`` may also be any JSON value, returned for every request. Its outputs still go through
    liftinfer's schema checks and validation, like any backend's; ``requests`` records what it was asked.
    The class itself can be a ``Backend``'s engine (``load=lambda: FakeEngine``): ``load_engine``
    creates it with the configuration as first argument, and it answers ``{"ok": true}``.
    """

    backend_name = "fake"

    def __init__(self, respond: Callable[[PreparedRequest], str] | Any = None, **kwargs: Any) -> None:
        from liftinfer.config import EngineConfig

        if isinstance(respond, EngineConfig):  # created by load_engine, as a backend's engine class
            kwargs["config"], respond = respond, None
        if kwargs.get("plugins") is None:  # a test's engine made by hand gets the process's plugins
            from liftinfer.pluginmanager import get_plugins

            kwargs["plugins"] = get_plugins()
        super().__init__(**kwargs)
        if respond is None:
            respond = {"ok": True}
        self.respond = respond if callable(respond) else (lambda _p, _v=respond: json.dumps(_v))
        self.requests: list[PreparedRequest] = []

    def _load(self) -> None:
        self.model_name = "fake-model"

    async def _complete(self, prepared: PreparedRequest) -> Completion:
        self.requests.append(prepared)
        text = self.respond(prepared)
        return Completion(text=text, finish_reason="stop", prompt_tokens=len(prepared.chat),
                          completion_tokens=max(1, len(text) // 4))


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ThreadedServer:
    """uvicorn serving an ASGI app on loopback in a thread, for tests that need a real socket.

    ``with ThreadedServer(app) as server: httpx.get(server.url + "/health")``
    """

    def __init__(self, app: Any) -> None:
        import uvicorn

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> ThreadedServer:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("test server did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)


@pytest.fixture
def liftinfer_plugins() -> Iterator[Plugins]:
    from liftinfer.pluginmanager import Plugins, get_plugins, reset_plugins

    previous = get_plugins()
    plugins = Plugins()
    reset_plugins(plugins)
    try:
        yield plugins
    finally:
        reset_plugins(previous)


@pytest.fixture
def register_plugin(liftinfer_plugins: Plugins) -> Iterator[Callable[..., str]]:
    registered: list[str] = []

    def register(plugin: object, name: str | None = None) -> str:
        registered.append(liftinfer_plugins.register(plugin, name=name))
        return registered[-1]

    try:
        yield register
    finally:
        for name in registered:
            liftinfer_plugins.unregister(name=name)


@pytest.fixture
def fake_engine(tmp_path: Any) -> Iterator[FakeEngine]:
    from liftinfer.config import EngineConfig

    engine = FakeEngine(config=EngineConfig(**{"cache_dir": tmp_path / "cache"}))
    engine.load()
    try:
        yield engine
    finally:
        engine.close()


@pytest.fixture
def liftinfer_server() -> Iterator[Callable[..., ThreadedServer]]:
    """``liftinfer_server(engine, serve_config=None, ready_timeout=300)``: the HTTP API on loopback.

    It returns once the engine is ready (loaded in the background if it was not) or has failed to load
    (then the server answers 503); stopping the server at the end of the test closes the engine too.
    """
    from liftinfer.config import ServeConfig
    from liftinfer.server import create_app

    servers: list[ThreadedServer] = []

    def start(engine: GenerationEngine, serve_config: ServeConfig | None = None,
              ready_timeout: float = 300) -> ThreadedServer:
        defaults: dict[str, Any] = {"warmup_on_start": False}  # a test asks for the requests it needs
        serve = serve_config or ServeConfig(**defaults)
        server = ThreadedServer(create_app(engine, serve_config=serve)).__enter__()
        servers.append(server)
        deadline = time.monotonic() + ready_timeout
        while not engine.wait_ready(0.05) and engine.state != "failed":  # a failed engine answers 503
            if time.monotonic() > deadline:
                raise RuntimeError(f"engine not ready after {ready_timeout:g} s (state {engine.state})")
        return server

    try:
        yield start
    finally:
        for server in servers:
            server.__exit__()
