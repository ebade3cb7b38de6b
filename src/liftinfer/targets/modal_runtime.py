"""What the Modal app's serving class runs inside its container (the generated app.py calls these).

Kept here rather than in the generated file so the file stays short and the container logic is tested
like any other code. Nothing here imports modal.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fastapi import FastAPI

    from liftinfer.engine.base import GenerationEngine


def start_engine(values: dict[str, Any]) -> GenerationEngine:
    """Load the engine the deployment describes and run its warm-up request."""
    from liftinfer.config import EngineConfig
    from liftinfer.plugins import load_engine

    engine = load_engine(EngineConfig(**values))
    engine.warmup()
    return engine


def start_for_snapshot(values: dict[str, Any]) -> GenerationEngine:
    """Load and warm up before the memory snapshot, then sleep, so the snapshot holds no GPU state."""
    engine = start_engine(values)
    engine.sleep()
    return engine


def restore(engine: GenerationEngine) -> None:
    """After a restore: take the GPU memory back (vLLM sleep mode) and carry on warm."""
    engine.wake()


def web_app(engine: GenerationEngine, values: dict[str, Any]) -> FastAPI:
    """liftinfer's HTTP API around the loaded engine (an API key comes from LIFTINFER_API_KEY, if set)."""
    from liftinfer.config import ServeConfig
    from liftinfer.server import create_app

    return create_app(engine, serve_config=ServeConfig(**values))


def stop(engine: GenerationEngine | None) -> None:
    if engine is not None:
        engine.close()
