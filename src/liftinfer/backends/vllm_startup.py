"""Start-up phase timings from vLLM's own log lines.

vLLM's engine core runs in child processes that log to the inherited stderr; the original app grepped
those logs for load and compile times. ``StartupLog`` routes file descriptor 2 through a pipe once per
process, copies every byte to the real stderr, and keeps the timings it recognises.
"""

from __future__ import annotations

import os
import re
import threading
from typing import ClassVar

PATTERNS = {
    "load_weights": re.compile(r"Loading weights took ([\d.]+) seconds"),
    "model_loading": re.compile(r"Model loading took [\d.]+ GiB memory and ([\d.]+) seconds"),
    "torch_compile": re.compile(r"torch\.compile (?:and initial profiling/warmup run together )?took ([\d.]+) s"),
    "compile_cache_load": re.compile(r"from the cache, took ([\d.]+) s"),
    "graph_capture": re.compile(r"Graph capturing finished in ([\d.]+) secs"),
    "engine_init": re.compile(r"init engine \(profile, create kv cache, warmup model\) took ([\d.]+) s"),
    "prefetch": re.compile(r"Prefetching checkpoint files into page cache finished in ([\d.]+)s"),
}


SYNC = b"\x00liftinfer-stderr-sync"


class StartupLog:
    _instance: ClassVar[StartupLog | None] = None
    _lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self) -> None:
        self.events: list[tuple[str, float]] = []
        self._synced = threading.Event()
        read_fd, write_fd = os.pipe()
        self._stderr = os.dup(2)
        os.dup2(write_fd, 2)
        os.close(write_fd)
        self._reader = os.fdopen(read_fd, "rb", buffering=0)
        threading.Thread(target=self._pump, name="liftinfer-vllm-log", daemon=True).start()

    @classmethod
    def capture(cls) -> StartupLog:
        """The process's one capture of fd 2. vLLM logs to stdout by default: this sends it to stderr,
        where the capture reads it; it must run before vLLM is imported."""
        os.environ.setdefault("VLLM_LOGGING_STREAM", "ext://sys.stderr")
        with cls._lock:
            if cls._instance is None:
                cls._instance = cls()
            return cls._instance

    def _pump(self) -> None:
        pending = b""
        while True:
            chunk = self._reader.read(65536)
            if not chunk:
                return
            pending += chunk
            *lines, pending = pending.split(b"\n")
            for line in lines:
                if line.startswith(SYNC):
                    self._synced.set()
                    continue
                os.write(self._stderr, line + b"\n")
                self.feed(line.decode("utf-8", "replace"))

    def settle(self, timeout: float = 2.0) -> None:
        """Wait until everything written to stderr so far has been read (the pipe is first in, first out)."""
        self._synced.clear()
        os.write(2, SYNC + b"\n")
        self._synced.wait(timeout)

    def feed(self, line: str) -> None:
        for name, pattern in PATTERNS.items():
            match = pattern.search(line)
            if match:
                self.events.append((name, float(match.group(1))))

    def mark(self) -> int:
        return len(self.events)

    def phases(self, since: int = 0) -> dict[str, float]:
        """Milliseconds per phase seen since ``mark()`` (the last value of each, as ``<phase>_ms``)."""
        self.settle()
        return {f"{name}_ms": round(seconds * 1000, 1) for name, seconds in self.events[since:]}
