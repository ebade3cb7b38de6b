"""Prometheus metrics, one registry per app (several apps in one process do not collide)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from starlette.types import ASGIApp, Message, Receive, Scope, Send

if TYPE_CHECKING:
    from liftinfer.engine.base import GenerationEngine
    from liftinfer.engine.request import GenerateResult

LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)


class _EngineCollector:
    """Reads the engine's own counters at scrape time: grammar cache, requests in flight, readiness."""

    def __init__(self, engine: GenerationEngine) -> None:
        self.engine = engine

    def collect(self) -> Iterator[Any]:
        health = self.engine.health()
        yield GaugeMetricFamily("liftinfer_ready", "1 when the model is loaded", value=int(health["ready"]))
        yield GaugeMetricFamily("liftinfer_in_flight", "requests admitted and not answered",
                                value=health["in_flight"])
        stats = health.get("grammar_cache") or {}
        for name in ("hits", "misses", "evictions"):
            yield CounterMetricFamily(f"liftinfer_grammar_cache_{name}", f"grammar cache {name}",
                                      value=stats.get(name, 0))
        yield GaugeMetricFamily("liftinfer_grammar_cache_bytes", "bytes held by compiled grammars",
                                value=stats.get("bytes", 0))
        yield GaugeMetricFamily("liftinfer_grammar_cache_entries", "compiled grammars held",
                                value=stats.get("entries", 0))


class ServerMetrics:
    def __init__(self, engine: GenerationEngine) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter("liftinfer_requests", "HTTP requests answered", ["endpoint", "status"],
                                registry=self.registry)
        self.errors = Counter("liftinfer_errors", "errors answered, by kind", ["type"],
                              registry=self.registry)
        self.tokens = Counter("liftinfer_tokens", "tokens processed", ["kind"], registry=self.registry)
        self.latency = Histogram("liftinfer_request_duration_seconds", "HTTP request latency", ["endpoint"],
                                 buckets=LATENCY_BUCKETS, registry=self.registry)
        self.stages = Histogram("liftinfer_stage_duration_seconds", "time per request stage",
                                ["stage"], buckets=LATENCY_BUCKETS, registry=self.registry)
        self.registry.register(_EngineCollector(engine))

    def observe_result(self, result: GenerateResult) -> None:
        self.tokens.labels("prompt").inc(result.usage.prompt_tokens)
        self.tokens.labels("completion").inc(result.usage.completion_tokens)
        for stage in ("compile", "queue", "generate"):
            self.stages.labels(stage).observe(getattr(result.timings, f"{stage}_ms") / 1000)

    def render(self) -> bytes:
        return generate_latest(self.registry)


class RequestMetrics:
    """ASGI middleware counting every answer by endpoint and status, refusals of the outer guards included.

    A request whose client left before its answer is counted with status 499 (as nginx does).
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status: int | None = None

        async def observed(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, observed)
        finally:
            gone = scope.get("state", {}).get("client_gone", False)
            label = str(status) if status is not None else "499" if gone else "500"
            endpoint = getattr(scope.get("route"), "path", "unmatched")
            metrics: ServerMetrics = scope["app"].state.metrics
            metrics.requests.labels(endpoint, label).inc()
            metrics.latency.labels(endpoint).observe(time.perf_counter() - start)
