"""``create_app``: the FastAPI application around one engine, loaded in the background."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

from fastapi import FastAPI, Request, Response

from liftinfer import __version__
from liftinfer.config import EngineConfig, ServeConfig
from liftinfer.errors import UnsupportedMediaType
from liftinfer.server import errors, routes
from liftinfer.server.metrics import ServerMetrics

if TYPE_CHECKING:
    from liftinfer.engine.base import GenerationEngine
    from liftinfer.plugins import Plugins

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


def _refuse_content_type(request: Request) -> UnsupportedMediaType | None:
    """JSON endpoints take JSON; a form or text body gets a 415 rather than a confusing field error."""
    if request.method != "POST" or request.url.path == "/warmup":
        return None
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if not ctype or ctype == "application/json" or ctype.endswith("+json"):
        return None
    return UnsupportedMediaType(f"Content-Type must be application/json (got {ctype!r})",
                                field="content-type")


def create_app(
    engine: GenerationEngine | None = None,
    *,
    engine_config: EngineConfig | None = None,
    serve_config: ServeConfig | None = None,
    plugins: Plugins | None = None,
) -> FastAPI:
    """The liftinfer HTTP API around ``engine`` (created from ``engine_config`` when not given)."""
    serve = serve_config or ServeConfig()
    if engine is None:
        from liftinfer.plugins import load_engine

        engine = load_engine(engine_config, plugins=plugins, load=False)
    the_engine = engine

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if not the_engine.ready:
            threading.Thread(target=_start, args=(the_engine, serve), name="liftinfer-load", daemon=True).start()
        yield
        await asyncio.to_thread(the_engine.close)

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

    @app.middleware("http")
    async def _observe(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        start = time.perf_counter()
        refused = _refuse_content_type(request)
        response = errors.error_response(refused, request) if refused else await call_next(request)
        route = request.scope.get("route")
        endpoint = getattr(route, "path", "unmatched")
        metrics: ServerMetrics = request.app.state.metrics
        metrics.requests.labels(endpoint, str(response.status_code)).inc()
        metrics.latency.labels(endpoint).observe(time.perf_counter() - start)
        return response

    return app
