"""``create_app``: the FastAPI application around one engine, loaded in the background."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

from fastapi import FastAPI

from liftinfer.config import EngineConfig, ServeConfig
from liftinfer.server import errors, routes
from liftinfer.server.auth import ApiKeyAuth, load_api_key
from liftinfer.server.limits import RequestGuard
from liftinfer.server.metrics import RequestMetrics, ServerMetrics
from liftinfer.version import __version__

if TYPE_CHECKING:
    from liftinfer.engine.base import GenerationEngine
    from liftinfer.pluginmanager import Plugins

log = logging.getLogger("liftinfer.server")


def _start(engine: GenerationEngine, serve: ServeConfig) -> None:
    """Load (and warm up) in a thread, so /health answers while the model loads."""
    try:
        engine.load()
        log.info("model %s ready on backend %s in %.1f s", engine.model_name, engine.backend_name,
                 engine.startup.get("total_ms", 0) / 1000)
        if serve.warmup_on_start:
            report = engine.warmup()
            log.info("warm-up request took %.0f ms", report["request_ms"])
    except Exception as exc:
        log.error("engine failed to start: %s", engine.error or exc)


def create_app(
    engine: GenerationEngine | None = None,
    *,
    engine_config: EngineConfig | None = None,
    serve_config: ServeConfig | None = None,
    plugins: Plugins | None = None,
) -> FastAPI:
    """The liftinfer HTTP API around ``engine`` (created from ``engine_config`` when not given)."""
    serve = serve_config or ServeConfig()
    api_key = load_api_key(serve)
    if engine is None:
        from liftinfer.pluginmanager import load_engine

        engine = load_engine(engine_config, plugins=plugins, load=False)
    the_engine = engine

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # The engine's coroutines run on this server's loop where they can (an engine that has not
        # run any yet): no hop between threads per request, no second loop thread contending for the GIL.
        if serve.shared_loop and not the_engine.attach_loop(asyncio.get_running_loop()):
            log.debug("the engine keeps its own event loop (it ran requests before this server started)")
        if not the_engine.ready:
            threading.Thread(target=_start, args=(the_engine, serve), name="liftinfer-load",
                             daemon=True).start()
        elif serve.warmup_on_start:  # loaded before the server (a Modal container's enter); a no-op if warm
            await asyncio.to_thread(the_engine.warmup)
        try:
            yield
            await asyncio.to_thread(the_engine.close)
        finally:
            the_engine.detach_loop(asyncio.get_running_loop())

    app = FastAPI(
        title="liftinfer",
        version=__version__,
        description="LLM generation constrained to a JSON Schema. Every error has one shape: "
        '{"error": {"type", "message", "field", "details"}}.',
        lifespan=lifespan,
    )
    app.state.engine = engine
    app.state.serve = serve
    app.state.metrics = ServerMetrics(engine)
    errors.install(app)
    app.include_router(routes.router)

    # Each middleware added wraps those before it: metrics see every answer, and a request without the
    # key is refused before a byte of its body is read.
    app.add_middleware(RequestGuard, max_body_bytes=serve.max_body_bytes, body_timeout_s=serve.body_timeout_s,
                       max_pending=serve.max_pending)
    if api_key is not None:
        app.add_middleware(ApiKeyAuth, key=api_key)
        log.info("an API key is required on every endpoint but /health and the API docs")
    app.add_middleware(RequestMetrics)
    return app
