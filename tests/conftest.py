"""Shared fixtures. Tests marked ``model`` load the real SmolLM2 model (the cpu extra);
``grammar`` tests need xgrammar but no model. Both are skipped where those packages are missing
(the light tox environments of other Python versions); CI's Python 3.11 run has them all."""

from __future__ import annotations

import asyncio
import importlib.util
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from liftinfer.testing import FakeEngine, ThreadedServer, free_port  # noqa: F401 - tests import them from here

HAS_CPU_EXTRA = all(importlib.util.find_spec(m) for m in ("torch", "transformers", "xgrammar", "gguf"))
HAS_XGRAMMAR = importlib.util.find_spec("xgrammar") is not None


def pytest_collection_modifyitems(config: Any, items: list[Any]) -> None:
    for item in items:
        if "model" in item.keywords and not HAS_CPU_EXTRA:
            item.add_marker(pytest.mark.skip(reason="needs the cpu extra: pip install 'liftinfer[cpu]'"))
        if "grammar" in item.keywords and not HAS_XGRAMMAR:
            item.add_marker(pytest.mark.skip(reason="needs xgrammar: pip install 'liftinfer[cpu]'"))


@pytest.fixture(scope="session")
def model_cache_dir() -> Path:
    """The cache holding the real model: shared across tests (and runs) so it is fetched once."""
    from liftinfer.config import default_cache_dir

    return Path(os.environ.get("LIFTINFER_CACHE_DIR") or default_cache_dir())


@pytest.fixture(scope="session")
def real_engine(model_cache_dir: Path) -> Iterator[Any]:
    """The embedded default model on the transformers backend, loaded once per session."""
    from liftinfer import load_engine

    engine = load_engine(backend="transformers", cache_dir=model_cache_dir, max_batch_size=8)
    try:
        yield engine
    finally:
        engine.close()


@pytest.fixture
def serve_app() -> Iterator[Any]:
    """``serve_app(app)`` starts a real server on loopback and returns it (``.url``); stopped after the test."""
    servers: list[ThreadedServer] = []

    def start(app: Any) -> ThreadedServer:
        server = ThreadedServer(app).__enter__()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.__exit__()


PERSON = {
    "type": "object",
    "properties": {"name": {"type": "string", "maxLength": 30}, "age": {"type": "integer", "minimum": 0,
                                                                      "maximum": 130}},
    "required": ["name", "age"],
    "additionalProperties": False,
}


class WhereEngine(FakeEngine):
    """A fake engine that records where each request ran: its event loop and its thread's name."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.loops: list[Any] = []
        self.threads: list[str] = []

    async def _complete(self, prepared: Any) -> Any:
        self.loops.append(asyncio.get_running_loop())
        self.threads.append(threading.current_thread().name)
        return await super()._complete(prepared)
