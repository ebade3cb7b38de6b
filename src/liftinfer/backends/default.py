"""The default backend choice for ``backend="auto"``: a plugin like any other, asked last (``trylast``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from liftinfer.backends import Backend, cuda_available
from liftinfer.markers import hookimpl

if TYPE_CHECKING:
    from liftinfer.config import EngineConfig


@hookimpl(trylast=True)
def liftinfer_select_backend(config: EngineConfig, backends: Mapping[str, Backend]) -> str | None:
    """The default choice: vLLM where CUDA and vLLM are present, else transformers."""
    if "vllm" in backends and backends["vllm"].unavailable() is None and cuda_available():
        return "vllm"
    if "transformers" in backends:
        return "transformers"
    usable = [name for name, b in backends.items() if b.unavailable() is None]
    return usable[0] if usable else None
