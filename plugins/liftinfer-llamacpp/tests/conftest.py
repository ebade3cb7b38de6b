"""Fixtures of the llamacpp plugin's tests. liftinfer's own fixtures (liftinfer_plugins, register_plugin,
fake_engine, liftinfer_server) come from its pytest plugin, ``liftinfer.testing``."""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

HAS_LLAMA_CPP = importlib.util.find_spec("llama_cpp") is not None

def pytest_collection_modifyitems(config: Any, items: list[Any]) -> None:
    for item in items:
        if "model" in item.keywords and not HAS_LLAMA_CPP:
            item.add_marker(pytest.mark.skip(reason="needs llama-cpp-python: pip install liftinfer-llamacpp"))


@pytest.fixture(scope="session")
def model_cache_dir() -> Path:
    """liftinfer's cache root holding SmolLM2 (fetched once, shared with liftinfer's own tests)."""
    from liftinfer.plugin import EngineConfig

    return Path(os.environ.get("LIFTINFER_CACHE_DIR") or EngineConfig().cache_dir)


@pytest.fixture(scope="session")
def engine(model_cache_dir: Path) -> Iterator[Any]:
    """The embedded SmolLM2 GGUF on the llamacpp backend, loaded once per session."""
    from liftinfer import load_engine

    loaded = load_engine(backend="llamacpp", cache_dir=model_cache_dir, max_batch_size=4, max_model_len=1024)
    try:
        yield loaded
    finally:
        loaded.close()
