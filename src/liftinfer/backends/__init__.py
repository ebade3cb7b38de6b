"""Generation backends. Each is a plugin that registers a :class:`Backend` record; the default choice among
them is the plugin in :mod:`liftinfer.backends.default`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from liftinfer.engine.base import GenerationEngine


def _always() -> str | None:
    return None


@dataclass(frozen=True)
class Backend:
    """A backend as plugins register it; ``load`` imports the engine class only when it is used.

    ``unavailable`` returns None when the backend can run here, else the reason it cannot (a missing
    package, no GPU), which ``liftinfer plugins`` shows and ``backend auto`` respects.
    """

    name: str
    load: Callable[[], type[GenerationEngine]]
    description: str = ""
    unavailable: Callable[[], str | None] = _always
    plugin: str = ""


def cuda_available() -> bool:
    """True where torch sees a CUDA device; False without torch (never imports it needlessly)."""
    import importlib.util
    import os
    import sys

    if "torch" not in sys.modules and importlib.util.find_spec("torch") is None:
        return False
    # Ask NVML rather than initialising CUDA here: a process that has initialised CUDA cannot fork
    # the engine processes vLLM starts, and spawning them costs a second import of torch and vLLM.
    os.environ.setdefault("PYTORCH_NVML_BASED_CUDA_CHECK", "1")
    import torch

    return bool(torch.cuda.is_available())
