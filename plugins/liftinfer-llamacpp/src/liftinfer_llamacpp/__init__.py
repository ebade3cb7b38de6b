"""liftinfer-llamacpp: a liftinfer backend on llama.cpp (llama-cpp-python) for GGUF models.

llama.cpp runs the model; liftinfer's own constraint layer keeps the output inside the schema (each
step, the request's xgrammar matcher masks llama.cpp's logits), so outputs obey the same schemas and
checks as every other backend. Written only against :mod:`liftinfer.plugin`.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from liftinfer.plugin import Backend, EngineConfig, cuda_available, hookimpl

if TYPE_CHECKING:
    from liftinfer.plugin import GenerationEngine

__version__ = "0.1.0"

REQUIRES = {"llama_cpp": "llama-cpp-python", "xgrammar": "xgrammar", "numpy": "numpy", "torch": "torch"}


def _engine_class() -> type[GenerationEngine]:
    from liftinfer_llamacpp.engine import LlamaCppEngine

    return LlamaCppEngine


def unavailable() -> str | None:
    missing = [package for module, package in REQUIRES.items() if importlib.util.find_spec(module) is None]
    return f"missing {', '.join(missing)} (pip install liftinfer-llamacpp)" if missing else None


def serves(model: str) -> bool:
    """Whether a model spec can be a GGUF: a packaged model or a .gguf path, not a directory or hub id."""
    path = Path(model).expanduser()
    if path.exists():
        return path.is_file() and path.suffix == ".gguf"
    return model.count("/") != 1 or model.endswith(".gguf")


@hookimpl
def liftinfer_register_backends(register: Callable[[Backend], None]) -> None:
    register(Backend(
        name="llamacpp",
        load=_engine_class,
        description="llama.cpp (GGUF) with liftinfer's xgrammar logit masks; fastest on CPU",
        unavailable=unavailable,
    ))


@hookimpl
def liftinfer_select_backend(config: EngineConfig, backends: Mapping[str, Backend]) -> str | None:
    """On a CPU-only machine, llama.cpp serves GGUF models faster than transformers: choose it there.

    Where CUDA is present the GPU backends (vLLM, transformers on CUDA) are left to the default choice.
    """
    ours = backends.get("llamacpp")
    if ours is None or ours.unavailable() is not None or not serves(config.model):
        return None
    return None if cuda_available() else "llamacpp"
