"""liftinfer: LLM generation constrained to a JSON Schema, as a library, an HTTP server or a deployment.

>>> from liftinfer import load_engine
>>> engine = load_engine()                       # the embedded default model, on the best backend here
>>> engine.generate("A person", schema=Person).data
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from liftinfer.errors import (
    ConfigError,
    LiftinferError,
    MissingDependency,
    ModelSourceError,
    NotReady,
    OutputInvalid,
    Overloaded,
    RequestError,
    SchemaError,
)
from liftinfer.markers import hookimpl
from liftinfer.version import __version__

if TYPE_CHECKING:
    from liftinfer.engine.base import GenerationEngine
    from liftinfer.engine.request import GenerateRequest, GenerateResult
    from liftinfer.pluginmanager import load_engine

_LAZY = {
    "GenerationEngine": "liftinfer.engine.base",
    "GenerateRequest": "liftinfer.engine.request",
    "GenerateResult": "liftinfer.engine.request",
    "load_engine": "liftinfer.pluginmanager",
}

__all__ = [
    "ConfigError",
    "GenerateRequest",
    "GenerateResult",
    "GenerationEngine",
    "LiftinferError",
    "MissingDependency",
    "ModelSourceError",
    "NotReady",
    "OutputInvalid",
    "Overloaded",
    "RequestError",
    "SchemaError",
    "__version__",
    "hookimpl",
    "load_engine",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'liftinfer' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)
