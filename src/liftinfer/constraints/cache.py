"""GrammarCache: compiled grammars kept per canonical schema, bounded in bytes."""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any


class GrammarCache:
    """A thread-safe LRU of compiled grammars, bounded in bytes (xgrammar reports each grammar's size)."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._items: OrderedDict[str, tuple[Any, int]] = OrderedDict()
        self._lock = threading.Lock()
        self.bytes = 0
        self.hits = 0
        self.misses = 0
        self.evictions = 0

    def get(self, key: str, *, count_miss: bool = True) -> Any | None:
        with self._lock:
            item = self._items.get(key)
            if item is None:
                self.misses += count_miss
                return None
            self._items.move_to_end(key)
            self.hits += 1
            return item[0]

    def put(self, key: str, value: Any, size: int) -> None:
        with self._lock:
            if key in self._items:
                return
            if size > self.max_bytes:
                return  # larger than the whole cache: keep it out rather than flush everything
            self._items[key] = (value, size)
            self.bytes += size
            while self.bytes > self.max_bytes:
                _, (_, old) = self._items.popitem(last=False)
                self.bytes -= old
                self.evictions += 1

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self.bytes = 0

    def __len__(self) -> int:
        return len(self._items)

    def stats(self) -> dict[str, int]:
        return {"entries": len(self._items), "bytes": self.bytes, "max_bytes": self.max_bytes,
                "hits": self.hits, "misses": self.misses, "evictions": self.evictions}
