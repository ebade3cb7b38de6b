"""The warm-up client: wait until an endpoint is ready, then warm it; light enough for any laptop.

Exit codes (``Outcome``) let scripts tell the cases apart: 0 ready, 3 timed out (the server answered
but never became ready), 4 unreachable (no answer at all), 5 unauthorized, 6 failed (the model did not
load, or the warm-up request failed).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

import httpx


class Outcome(IntEnum):
    READY = 0
    TIMED_OUT = 3
    UNREACHABLE = 4
    UNAUTHORIZED = 5
    FAILED = 6


@dataclass
class WarmupResult:
    outcome: Outcome
    message: str
    health: dict[str, Any] | None = None
    report: dict[str, Any] | None = None
    elapsed_s: float = 0.0


class _Progress:
    """A one-line status display on stderr (silent when ``quiet``)."""

    def __init__(self, quiet: bool) -> None:
        self.status = None
        if not quiet:
            from rich.console import Console

            self.status = Console(stderr=True).status("")

    def __enter__(self) -> _Progress:
        if self.status is not None:
            self.status.start()
        return self

    def update(self, text: str) -> None:
        if self.status is not None:
            self.status.update(text)

    def __exit__(self, *exc: object) -> None:
        if self.status is not None:
            self.status.stop()


def _client(headers: dict[str, str], api_key: str | None) -> httpx.Client:
    headers = dict(headers)
    if api_key:
        headers["Authorization"] = f"Bearer {api_key}"
    return httpx.Client(headers=headers, follow_redirects=True)


def wait_ready(
    url: str,
    *,
    timeout: float = 600.0,
    warm: bool = True,
    api_key: str | None = None,
    headers: dict[str, str] | None = None,
    interval: float = 1.0,
    quiet: bool = False,
) -> WarmupResult:
    """Poll ``/health`` until the engine is ready, then (if ``warm``) POST ``/warmup``."""
    base = url.rstrip("/")
    start = time.monotonic()
    deadline = start + timeout
    answered = False
    last = "no answer yet"
    with _client(headers or {}, api_key) as client, _Progress(quiet) as progress:
        while True:
            elapsed = time.monotonic() - start
            progress.update(f"waiting for {base} — {last} ({elapsed:.0f} s of {timeout:.0f} s)")
            remaining = deadline - time.monotonic()
            try:
                response = client.get(f"{base}/health", timeout=max(1.0, min(10.0, remaining)))
                answered = True
                if response.status_code in (401, 403):
                    return WarmupResult(Outcome.UNAUTHORIZED, f"{base} refused the credentials "
                                        f"(HTTP {response.status_code})", elapsed_s=elapsed)
                health = _json(response)
                if response.status_code == 200 and health.get("ready"):
                    break
                if health.get("status") == "failed":  # it will not become ready by waiting
                    return WarmupResult(Outcome.FAILED, f"{base} failed to load its model: "
                                        f"{health.get('error') or 'no reason given'}", health=health,
                                        elapsed_s=time.monotonic() - start)
                last = f"status {health.get('status', response.status_code)}"
                if health.get("error"):
                    last += f": {health['error']}"
            except httpx.HTTPError as exc:
                last = f"not reachable ({type(exc).__name__})"
            if time.monotonic() + interval > deadline:
                outcome = Outcome.TIMED_OUT if answered else Outcome.UNREACHABLE
                verb = "did not become ready" if answered else "did not answer"
                return WarmupResult(outcome, f"{base} {verb} within {timeout:g} s ({last})",
                                    elapsed_s=time.monotonic() - start)
            time.sleep(interval)
        if not warm:
            return WarmupResult(Outcome.READY, f"{base} is ready", health=health,
                                elapsed_s=time.monotonic() - start)
        progress.update(f"{base} is ready; running the warm-up request")
        try:
            response = client.post(f"{base}/warmup", timeout=max(1.0, deadline - time.monotonic()))
        except httpx.TimeoutException:
            return WarmupResult(Outcome.TIMED_OUT, f"{base}/warmup did not answer within {timeout:g} s",
                                health=health, elapsed_s=time.monotonic() - start)
        except httpx.HTTPError as exc:
            return WarmupResult(Outcome.UNREACHABLE, f"{base}/warmup failed: {exc}", health=health,
                                elapsed_s=time.monotonic() - start)
    elapsed = time.monotonic() - start
    if response.status_code in (401, 403):
        return WarmupResult(Outcome.UNAUTHORIZED, f"{base}/warmup refused the credentials", elapsed_s=elapsed)
    report = _json(response)
    if response.status_code != 200:
        message = (report.get("error") or {}).get("message", f"HTTP {response.status_code}")
        return WarmupResult(Outcome.FAILED, f"{base}/warmup answered HTTP {response.status_code}: {message}",
                            health=health, elapsed_s=elapsed)
    return WarmupResult(Outcome.READY, f"{base} is warm", health=health, report=report, elapsed_s=elapsed)


def fire(url: str, *, api_key: str | None = None, headers: dict[str, str] | None = None,
         connect_timeout: float = 10.0) -> WarmupResult:
    """Send POST /warmup and return without waiting for the answer (it wakes a scaled-to-zero endpoint)."""
    base = url.rstrip("/")
    start = time.monotonic()
    with _client(headers or {}, api_key) as client:
        try:
            response = client.post(f"{base}/warmup",
                                   timeout=httpx.Timeout(2.0, connect=connect_timeout))
        except httpx.ReadTimeout:
            return WarmupResult(Outcome.READY, f"warm-up requested from {base}",
                                elapsed_s=time.monotonic() - start)
        except httpx.HTTPError as exc:
            return WarmupResult(Outcome.UNREACHABLE, f"{base} is not reachable ({type(exc).__name__})",
                                elapsed_s=time.monotonic() - start)
    if response.status_code in (401, 403):
        return WarmupResult(Outcome.UNAUTHORIZED,
                            f"{base} refused the credentials (HTTP {response.status_code})")
    return WarmupResult(Outcome.READY, f"warm-up requested from {base} (HTTP {response.status_code})",
                        report=_json(response), elapsed_s=time.monotonic() - start)


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}
