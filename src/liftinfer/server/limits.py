"""What every request passes before a route sees it: content type, body size and deadline, and the client.

``RequestGuard`` is plain ASGI middleware, so it works below FastAPI's own body handling:

- at most ``max_pending`` requests with a body are read or answered at once: more get 429 with
  Retry-After before a byte is read, which bounds the memory all bodies together can take;
- a POST must be JSON (415 otherwise);
- the body is read here, counting bytes as they arrive, and refused with 413 as soon as it passes
  ``max_body_bytes`` (at once when Content-Length says so), so no client makes the server hold more;
- a client that sends its body too slowly gets 408 after ``body_timeout_s``;
- a client that disconnects before its answer cancels its request, which frees its place in the queue.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from liftinfer.errors import LiftinferError, Overloaded, PayloadTooLarge, RequestError, UnsupportedMediaType
from liftinfer.server.errors import error_response

# Endpoints that take no body: their POSTs need no JSON content type.
BODILESS = frozenset({"/warmup"})
# What the server keeps reading of an oversized body before it answers, so that the client, still
# sending, reads the 413 rather than a reset connection. Beyond this the connection is closed.
DRAIN_BYTES = 16 * 2**20


class BodyTimeout(RequestError):
    """The client did not send its whole body in time."""

    status = 408
    type = "body_timeout"


class _ClientGone(Exception):
    pass


class RequestGuard:
    def __init__(self, app: ASGIApp, *, max_body_bytes: int, body_timeout_s: float, max_pending: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.body_timeout_s = body_timeout_s
        self.max_pending = max_pending
        self.pending = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in ("POST", "PUT", "PATCH"):
            await self.app(scope, receive, send)
            return
        if self.pending >= self.max_pending:
            busy = Overloaded(f"the server is at its limit of {self.max_pending} requests in progress; retry")
            await self._refuse(busy, scope, receive, send)
            return
        self.pending += 1
        try:
            await self._guarded(scope, receive, send)
        finally:
            self.pending -= 1

    async def _guarded(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            self._check_headers(scope)
            body = await self._read(scope, receive)
        except LiftinferError as exc:
            await self._refuse(exc, scope, receive, send)
            return
        except _ClientGone:
            return
        await _run_until_disconnect(self.app, scope, body, receive, send)

    def _check_headers(self, scope: Scope) -> None:
        headers = Request(scope).headers
        ctype = headers.get("content-type", "").split(";")[0].strip().lower()
        json_type = ctype == "application/json" or ctype.endswith("+json")
        if scope["path"] not in BODILESS and ctype and not json_type:
            raise UnsupportedMediaType(f"Content-Type must be application/json (got {ctype!r})",
                                       field="content-type")
        declared = headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_body_bytes:
            raise self._too_large(int(declared))

    def _too_large(self, size: int | None = None) -> PayloadTooLarge:
        got = f"{size} bytes" if size is not None else "more"
        return PayloadTooLarge(f"request body is {got}; the limit is {self.max_body_bytes} bytes",
                               details={"limit": self.max_body_bytes})

    async def _read(self, scope: Scope, receive: Receive) -> bytes:
        chunks: list[bytes] = []
        size = 0
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.body_timeout_s
        while True:
            message = await self._next(receive, deadline - loop.time())
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                raise self._too_large()
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)

    async def _next(self, receive: Receive, remaining: float) -> Message:
        try:
            message = await asyncio.wait_for(receive(), max(remaining, 0.001))
        except asyncio.TimeoutError:
            raise BodyTimeout(f"the request body did not arrive within {self.body_timeout_s:g} s") from None
        if message["type"] == "http.disconnect":
            raise _ClientGone
        return message

    async def _refuse(self, exc: LiftinferError, scope: Scope, receive: Receive, send: Send) -> None:
        if isinstance(exc, PayloadTooLarge):
            await _drain(receive, DRAIN_BYTES, min(self.body_timeout_s, 5.0))
        response = error_response(exc, Request(scope))
        response.headers["Connection"] = "close"
        await response(scope, receive, send)


async def _drain(receive: Receive, limit: int, timeout: float) -> None:
    """Read and drop what the client is still sending, up to ``limit`` bytes or ``timeout`` seconds."""

    async def drop() -> None:
        dropped = 0
        while dropped <= limit:
            message = await receive()
            if message["type"] != "http.request" or not message.get("more_body", False):
                return
            dropped += len(message.get("body", b""))

    with contextlib.suppress(asyncio.TimeoutError):
        await asyncio.wait_for(drop(), timeout)


async def _run_until_disconnect(
    app: ASGIApp, scope: Scope, body: bytes, receive: Receive, send: Send
) -> None:
    """Run the app on the body read; cancel it if the client leaves before the response starts."""
    gone = asyncio.Event()
    delivered = False
    started = False

    async def replay() -> Message:
        nonlocal delivered
        if not delivered:
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}
        await gone.wait()
        return {"type": "http.disconnect"}

    async def tracked_send(message: Message) -> None:
        nonlocal started
        started = started or message["type"] == "http.response.start"
        await send(message)

    async def watch() -> None:
        while (await receive())["type"] != "http.disconnect":
            pass

    task: asyncio.Task[Any] = asyncio.ensure_future(app(scope, replay, tracked_send))
    watcher: asyncio.Task[Any] = asyncio.ensure_future(watch())
    try:
        await asyncio.wait({task, watcher}, return_when=asyncio.FIRST_COMPLETED)
        if watcher.done() and not task.done():
            gone.set()
            if not started:
                scope.setdefault("state", {})["client_gone"] = True
                task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        if task.cancelled() and not gone.is_set():  # cancelled from outside (shutdown)
            raise asyncio.CancelledError
    finally:
        for pending in (task, watcher):
            if not pending.done():
                pending.cancel()
