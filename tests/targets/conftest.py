from __future__ import annotations

from typing import Any

import pytest

from liftinfer.config import EngineConfig, ServeConfig
from liftinfer.deploy import build_spec, parse_edits


@pytest.fixture(autouse=True)
def _clean_deploy_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("LIFTINFER_TOGGLES", "LIFTINFER_BASE_IMAGE", "LIFTINFER_DEPLOY_SET", "LIFTINFER_MODEL",
                "LIFTINFER_BACKEND", "LIFTINFER_API_KEY"):
        monkeypatch.delenv(var, raising=False)


@pytest.fixture
def make_spec(liftinfer_plugins: Any, tmp_path: Any) -> Any:
    """``make_spec(target, *edits, toggles=[...], **engine)`` -> (spec, engine config), as the CLI makes."""

    def make(target: Any, *edits: str, toggles: tuple[str, ...] = (),
             **engine: Any) -> tuple[Any, EngineConfig]:
        if toggles:
            engine["toggles"] = list(toggles)
        config = EngineConfig(cache_dir=tmp_path / "cache", **engine)
        return build_spec(config, ServeConfig(), liftinfer_plugins, parse_edits(list(edits))), config

    return make
