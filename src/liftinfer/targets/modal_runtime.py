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
    """Load the engine the deployment describes.

    Its warm-up request runs in the web app's start-up (``warmup_on_start``), before Modal routes traffic
    to the container: on the server's event loop, which the engine's coroutines then share (no hop
    between threads per request).
    """
    from liftinfer.config import EngineConfig
    from liftinfer.pluginmanager import load_engine

    return load_engine(EngineConfig(**values))


def prime_caches(values: dict[str, Any]) -> dict[str, Any]:
    """One start that writes straight into the primed volume (not a copy of it), then a warm-up request."""
    from liftinfer.config import EngineConfig
    from liftinfer.pluginmanager import load_engine

    values = dict(values)
    seed = values.pop("compile_cache_seed", None)
    if seed is not None:
        values["compile_cache_dir"] = seed
    engine = load_engine(EngineConfig(**values))
    try:
        warm = engine.warmup()
    finally:
        engine.close()
    return {"startup": engine.startup, "warmup": warm, "compile_cache_dir": values.get("compile_cache_dir")}


def start_for_snapshot(values: dict[str, Any]) -> GenerationEngine:
    """Load and warm up before the memory snapshot, then sleep, so the snapshot holds no GPU state.

    This engine runs its coroutines on its own loop (it ran them before the web app existed), so its
    requests cross from the server's thread to the engine's.
    """
    engine = start_engine(values)
    engine.warmup()
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
