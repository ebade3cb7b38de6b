"""The warm-up client against real servers on loopback: each outcome a script can tell apart."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from liftinfer.config import EngineConfig, ServeConfig
from liftinfer.server import create_app
from liftinfer.testing import FakeEngine
from liftinfer.warmup import Outcome, fire, wait_ready
from tests.conftest import free_port


class GatedEngine(FakeEngine):
    """Loads only once ``gate`` is set (or fails to, with ``fail``); counts warm-up requests."""

    def __init__(self, *, fail: str | None = None, slow_warmup: float = 0.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.gate = threading.Event()
        self.fail = fail
        self.slow_warmup = slow_warmup
        self.warmups = 0

    def _load(self) -> None:
        self.gate.wait(30)
        if self.fail:
            raise RuntimeError(self.fail)
        super()._load()

    def warmup(self) -> dict[str, Any]:
        self.warmups += 1
        time.sleep(self.slow_warmup)
        return super().warmup()


@pytest.fixture
def gated(tmp_path: Any) -> Iterator[Any]:
    engines: list[GatedEngine] = []

    def make(**kwargs: Any) -> GatedEngine:
        engines.append(GatedEngine(config=EngineConfig(cache_dir=tmp_path), **kwargs))
        return engines[-1]

    yield make
    for engine in engines:
        engine.gate.set()


def serve(serve_app: Any, engine: GatedEngine, **settings: Any) -> str:
    return serve_app(create_app(engine, serve_config=ServeConfig(warmup_on_start=False, **settings))).url


def key_checking_app(header: str = "Authorization", value: str = "Bearer sesame") -> FastAPI:
    """Answers 401 unless the right credential comes, like Modal's proxy auth or an API key."""
    app = FastAPI()

    @app.middleware("http")
    async def check(request: Request, call_next: Any) -> Any:
        if request.headers.get(header) != value:
            return JSONResponse({"error": {"type": "unauthorized", "message": "missing credentials"}}, 401)
        return await call_next(request)

    @app.get("/health")
    async def health() -> dict[str, Any]:
        return {"status": "ready", "ready": True}

    @app.post("/warmup")
    async def warm() -> dict[str, Any]:
        return {"warm": True, "total_ms": 5.0, "already_warm": False}

    return app


def test_waits_through_loading_then_warms_up(serve_app, gated):
    engine = gated()
    url = serve(serve_app, engine)
    threading.Timer(1.5, engine.gate.set).start()
    result = wait_ready(url, timeout=20, interval=0.2, quiet=True)
    assert result.outcome is Outcome.READY and result.message == f"{url} is warm"
    assert result.elapsed_s >= 1.4
    assert result.report["warm"] and result.report["already_warm"] is False
    assert engine.warmups == 1 and engine.health()["warm"]


def test_check_only_waits_for_readiness_and_sends_no_warm_up(serve_app, gated):
    engine = gated()
    engine.gate.set()
    result = wait_ready(serve(serve_app, engine), timeout=10, warm=False, interval=0.2, quiet=True)
    assert result.outcome is Outcome.READY and result.health["ready"]
    assert engine.warmups == 0


def test_a_server_that_never_gets_ready_times_out(serve_app, gated):
    url = serve(serve_app, gated())
    result = wait_ready(url, timeout=1.5, interval=0.2, quiet=True)
    assert result.outcome is Outcome.TIMED_OUT
    assert result.message == f"{url} did not become ready within 1.5 s (status loading)"


def test_a_model_that_fails_to_load_fails_at_once(serve_app, gated):
    engine = gated(fail="out of GPU memory")
    engine.gate.set()
    result = wait_ready(serve(serve_app, engine), timeout=20, interval=0.2, quiet=True)
    assert result.outcome is Outcome.FAILED
    assert "failed to load its model: RuntimeError: out of GPU memory" in result.message
    assert result.elapsed_s < 10


def test_nothing_listening_is_unreachable():
    url = f"http://127.0.0.1:{free_port()}"
    result = wait_ready(url, timeout=1.0, interval=0.2, quiet=True)
    assert result.outcome is Outcome.UNREACHABLE
    assert result.message.startswith(f"{url} did not answer within 1 s (not reachable (ConnectError))")


def test_missing_credentials_are_unauthorized_and_the_right_ones_pass(serve_app):
    url = serve_app(key_checking_app()).url
    assert wait_ready(url, timeout=5, quiet=True).outcome is Outcome.UNAUTHORIZED
    assert wait_ready(url, timeout=5, quiet=True, api_key="sesame").outcome is Outcome.READY


def test_modal_proxy_auth_headers_are_sent(serve_app):
    url = serve_app(key_checking_app("Modal-Key", "wk-123")).url
    assert wait_ready(url, timeout=5, quiet=True, headers={"Modal-Key": "wk-123"}).outcome is Outcome.READY


def test_fire_returns_without_waiting_for_a_slow_warm_up(serve_app, gated):
    engine = gated(slow_warmup=5.0)
    engine.gate.set()
    url = serve(serve_app, engine)
    start = time.monotonic()
    result = fire(url)
    assert result.outcome is Outcome.READY and result.message == f"warm-up requested from {url}"
    assert time.monotonic() - start < 4
    assert engine.warmups == 1


def test_fire_reports_unreachable_and_unauthorized(serve_app):
    assert fire(f"http://127.0.0.1:{free_port()}", connect_timeout=1).outcome is Outcome.UNREACHABLE
    assert fire(serve_app(key_checking_app()).url).outcome is Outcome.UNAUTHORIZED


def test_a_failing_warm_up_request_is_failed(serve_app, gated):
    engine = gated()
    engine.gate.set()

    def broken() -> dict[str, Any]:
        raise RuntimeError("kernel crashed")

    engine.warmup = broken  # type: ignore[method-assign]
    url = serve(serve_app, engine)
    result = wait_ready(url, timeout=10, interval=0.2, quiet=True)
    assert result.outcome is Outcome.FAILED
    assert result.message == f"{url}/warmup answered HTTP 503: warm-up failed: kernel crashed"


def test_the_progress_display_runs_while_waiting(serve_app, gated, capsys):
    engine = gated()
    url = serve(serve_app, engine)
    threading.Timer(0.5, engine.gate.set).start()
    assert wait_ready(url, timeout=10, interval=0.2, quiet=False).outcome is Outcome.READY
    assert "Traceback" not in capsys.readouterr().err
