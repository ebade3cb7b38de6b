"""The event-loop bridge: one loop for an engine's coroutines, whoever calls, and a hand-off to worker threads.

Synchronous callers, the HTTP server and batch calls share one engine. Its backend coroutines always run on
one loop (:class:`EngineLoop`): its own, in a thread of its own, or one lent by a server. A backend that
decodes in a thread of its own (the transformers scheduler) answers through :class:`PendingRequest`.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from liftinfer.engine.base import PreparedRequest

T = TypeVar("T")


def running_loop() -> asyncio.AbstractEventLoop | None:
    """The event loop running in this thread, if any."""
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


class EngineLoop:
    """The loop an engine's coroutines run on: its own (started on first use) or one lent by its owner."""

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._owned = False  # False for a lent loop (a server's), which stop() leaves running
        self._lock = threading.Lock()

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None:
                loop = asyncio.new_event_loop()
                threading.Thread(target=loop.run_forever, name="liftinfer-engine-loop", daemon=True).start()
                self._loop, self._owned = loop, True
            return self._loop

    @property
    def owned(self) -> bool:
        """True while the loop in use is the engine's own (False for a lent one, or none yet)."""
        return self._loop is not None and self._owned

    @property
    def current(self) -> asyncio.AbstractEventLoop | None:
        """The loop in use, without starting one."""
        return self._loop

    def attach(self, loop: asyncio.AbstractEventLoop) -> bool:
        """Use ``loop``, which its owner runs and stops, if no loop is in use yet; True if ``loop`` is used."""
        with self._lock:
            if self._loop is None:
                self._loop, self._owned = loop, False
            return self._loop is loop

    def detach(self, loop: asyncio.AbstractEventLoop) -> None:
        """Stop using ``loop`` (lent by :meth:`attach`); the next use starts a loop of the engine's own."""
        with self._lock:
            if self._loop is loop and not self._owned:
                self._loop = None

    def stop(self) -> None:
        """Forget the loop, and stop it if it is the engine's own."""
        with self._lock:
            loop, owned, self._loop = self._loop, self._owned, None
        if loop is not None and owned:
            loop.call_soon_threadsafe(loop.stop)

    def run_sync(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run ``coro`` on the loop and wait for it, from a thread that is not the loop's."""
        loop = self.loop
        if running_loop() is loop:  # waiting here would block the loop the coroutine needs: a deadlock
            coro.close()
            raise RuntimeError("a synchronous engine call from the engine's own event loop would deadlock; "
                               "await engine.agenerate(...) there, or call from another thread")
        return asyncio.run_coroutine_threadsafe(coro, loop).result()

    async def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Await ``coro`` on the loop, from any loop."""
        if asyncio.get_running_loop() is self.loop:
            return await coro
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coro, self.loop))


@dataclass
class PendingRequest:
    """A request handed to a backend's own worker thread (a decode loop outside the event loop).

    The worker calls :meth:`resolve` from its thread; the coroutine in :meth:`run` gets the answer. A
    cancelled caller (timeout, client gone) sets ``cancelled``, which the worker checks to drop the request.
    """

    prepared: PreparedRequest
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[Any]
    cancelled: bool = False

    def resolve(self, value: Any) -> None:
        """Answer the waiting coroutine with ``value`` (raised there if it is an exception)."""
        def _set() -> None:
            if self.future.done():
                return
            if isinstance(value, BaseException):
                self.future.set_exception(value)
            else:
                self.future.set_result(value)

        self.loop.call_soon_threadsafe(_set)

    @classmethod
    async def run(cls, prepared: PreparedRequest, submit: Callable[[Any], None], **fields: Any) -> Any:
        """Hand ``prepared`` to ``submit`` (the worker's queue) and wait for the worker's answer."""
        loop = asyncio.get_running_loop()
        pending = cls(prepared, loop, loop.create_future(), **fields)
        submit(pending)
        try:
            return await pending.future
        except asyncio.CancelledError:
            pending.cancelled = True
            raise
