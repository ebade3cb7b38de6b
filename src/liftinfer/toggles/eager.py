"""``eager``: no torch.compile and no CUDA graphs, for fast development starts.

Measured on the device (docs/benchmarks.md): eager mode starts in seconds but decodes 2.9x (7.4B) to
4.7x (135M) slower at batch 64 than compiled, not the "10-20%" the original app assumed.
"""

from __future__ import annotations

from typing import Any

from liftinfer.config import EngineConfig
from liftinfer.hookspecs import hookimpl
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
