"""pytest fixtures for people who write liftinfer plugins (loaded automatically as a pytest plugin).

- ``liftinfer_plugins``: a fresh plugin manager with the built-ins and installed entry points.
- ``register_plugin``: ``register_plugin(obj)`` registers a plugin for one test, unregistered afterwards.
- ``fake_engine``: a loaded :class:`FakeEngine` that answers with fixed text, for server-only tests.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from liftinfer.engine.base import Completion, GenerationEngine, PreparedRequest


class FakeEngine(GenerationEngine):
    """An engine without a model: ``respond(prepared)`` returns the text it 'generates'.

    Its outputs still go through liftinfer's schema checks and validation, like any backend's.
    """

    backend_name = "fake"

    def __init__(self, respond: Callable[[PreparedRequest], str] | Any = None, **kwargs: Any) -> None:
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


@pytest.fixture
def liftinfer_plugins() -> Iterator[Any]:
    from liftinfer.plugins import Plugins, get_plugins, reset_plugins

    previous = get_plugins()
    plugins = Plugins()
    reset_plugins(plugins)
    try:
        yield plugins
    finally:
        reset_plugins(previous)


@pytest.fixture
def register_plugin(liftinfer_plugins: Any) -> Iterator[Callable[..., str]]:
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

    engine = FakeEngine(config=EngineConfig(cache_dir=tmp_path / "cache"))
    engine.load()
    try:
        yield engine
    finally:
        engine.close()
