"""``eager``: no torch.compile and no CUDA graphs, for fast development starts.

It skips torch.compile and CUDA graph capture at start, and decodes much slower: the device README
(``shared/device``) measured 2.9x slower than compiled at batch 64 on a 7.4B model, not the "10-20%" the
original app assumed (docs/toggles.md).
"""

from __future__ import annotations

from typing import Any

from liftinfer.config import EngineConfig
from liftinfer.markers import hookimpl
from liftinfer.toggles.base import Changes, Toggle


class Eager(Toggle):
    name = "eager"
    description = "skip torch.compile and CUDA graphs: fast starts, slower decoding (LIFTINFER_EAGER=1, VLLM_EAGER=1)"
    env_switches = ("LIFTINFER_EAGER", "VLLM_EAGER")
    pointless_with = {"compile-cache": "eager mode compiles nothing, so the torch.compile cache stays unused "
                                       "(FlashInfer, Triton and CUDA caches still help)"}

    def changes(self, config: EngineConfig, backend: str | None) -> Changes:
        return Changes(engine_options={"enforce_eager": True}, deployment={"env.LIFTINFER_EAGER": "1"})


@hookimpl
def liftinfer_register_toggles(register: Any) -> None:
    register(Eager())
