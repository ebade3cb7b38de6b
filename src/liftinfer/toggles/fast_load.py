"""``fast-load``: read the weights into memory in parallel instead of page-faulting them in one by one.

Where fastsafetensors is installed, vLLM's ``fastsafetensors`` load format; otherwise vLLM's safetensors
``prefetch`` strategy with one reader thread per core (up to 16), which matters from a cold page cache
(a fresh container, a network volume). Measured against the default loader in docs/benchmarks.md.
"""

from __future__ import annotations

import importlib.util
import os
from typing import Any

from liftinfer.config import EngineConfig
from liftinfer.markers import hookimpl
from liftinfer.toggles.base import Changes, Toggle


class FastLoad(Toggle):
    name = "fast-load"
    description = "load weights with parallel reads (fastsafetensors where installed, else prefetch threads)"

    def changes(self, config: EngineConfig, backend: str | None) -> Changes:
        if importlib.util.find_spec("fastsafetensors") is not None:
            return Changes(engine_options={"load_format": "fastsafetensors"})
        threads = max(2, min(16, os.cpu_count() or 2))
        return Changes(engine_options={"safetensors_load_strategy": "prefetch",
                                       "safetensors_prefetch_num_threads": threads})


@hookimpl
def liftinfer_register_toggles(register: Any) -> None:
    register(FastLoad())
