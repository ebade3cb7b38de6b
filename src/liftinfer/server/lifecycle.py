"""Serving until SIGTERM (or SIGINT): stop accepting, let in-flight requests finish within a grace period, exit 0.

uvicorn already stops listening on SIGTERM and waits ``timeout_graceful_shutdown`` for open requests.
Two things are added here: the process exits 0 after a clean drain (uvicorn re-raises the signal, which
makes supervisors report a kill), and it exits even while a grammar compilation runs on — xgrammar
cannot be interrupted, and Python would otherwise wait for that thread at exit.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from liftinfer.config import ServeConfig

log = logging.getLogger("liftinfer.server")

# How long the last threads (an uninterruptible compilation) get once the server has drained.
STRAGGLER_WAIT_S = 2.0


def serve_forever(app: Any, serve: ServeConfig) -> None:
    """Run ``app`` with uvicorn on ``serve.host:serve.port`` until SIGTERM or SIGINT."""
    import uvicorn

    _log_like_uvicorn(serve.log_level)

    config = uvicorn.Config(app, host=serve.host, port=serve.port, log_level=serve.log_level,
                            timeout_graceful_shutdown=serve.shutdown_grace_s)  # type: ignore[arg-type]
    server = uvicorn.Server(config)

    def on_stop(_signum: int, _frame: Any) -> None:
        # Before uvicorn installs its own handlers: stop as soon as it starts. After it restores these
        # and re-raises the signal it drained for: nothing more to do (Ctrl-C included: a drain, exit 0).
        server.should_exit = True

    previous = {sig: signal.signal(sig, on_stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        server.run()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    _exit_past_stragglers()


def _log_like_uvicorn(level: str) -> None:
    """liftinfer's own lines (model ready, warm-up time, load failures) beside uvicorn's, in its format."""
    root = logging.getLogger("liftinfer")
    if not root.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(levelname)s:     %(message)s"))
        root.addHandler(handler)
        root.propagate = False
    root.setLevel(level.upper())


def _exit_past_stragglers() -> None:
    """Exit now if a thread that cannot be stopped (a grammar compilation) would hold the process."""
    others = [t for t in threading.enumerate() if t is not threading.current_thread() and not t.daemon]
    for thread in others:
        thread.join(STRAGGLER_WAIT_S / max(len(others), 1))
    alive = [t.name for t in others if t.is_alive()]
    if not alive:
        return
    log.warning("exiting while %d thread(s) still run (%s): a grammar compilation cannot be interrupted",
                len(alive), ", ".join(alive))
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)
