"""The snapshot toggle: memory snapshots plus vLLM sleep mode, so restored containers skip loading.

Where the target has memory snapshots (Modal), the container loads the engine and warms it up before
the snapshot, puts vLLM to sleep (weights out of GPU memory), and wakes it on every restore. On vLLM the
engine is created with sleep mode enabled; other backends' ``sleep``/``wake`` do nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from liftinfer.markers import hookimpl
from liftinfer.toggles.base import Changes, Toggle

if TYPE_CHECKING:
    from liftinfer.config import EngineConfig


class SnapshotToggle(Toggle):
    name = "snapshot"
    description = ("Modal memory snapshots with vLLM sleep mode: restored containers skip loading and "
                   "compiling")

    def changes(self, config: EngineConfig, backend: str | None) -> Changes:
        options = {"enable_sleep_mode": True} if backend == "vllm" else {}
        return Changes(engine_options=options, deployment={"snapshot": True})


@hookimpl
def liftinfer_register_toggles(register: Any) -> None:
    register(SnapshotToggle())
