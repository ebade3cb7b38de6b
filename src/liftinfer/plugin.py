"""The API a plugin is written against: import from here, not from liftinfer's internal modules.

Everything a backend, model source, target or toggle plugin needs is re-exported here, and kept
compatible within a minor version; ``docs/plugins.md`` describes each name. The external
``liftinfer-llamacpp`` backend uses nothing else, which a test of that package checks.

Nothing here imports torch, xgrammar or any other heavy package: backends import them in ``_load``.
"""

from __future__ import annotations

from liftinfer.backends import Backend, cuda_available
from liftinfer.config import EngineConfig, ServeConfig
from liftinfer.constraints.builder import Constraint, allocate_bitmask, apply_bitmask, import_xgrammar
from liftinfer.deploy import DeploymentSpec
from liftinfer.engine.base import Completion, GenerationEngine, PreparedRequest
from liftinfer.engine.cache import CacheRoot
from liftinfer.engine.decode import DecodeRow, first_stop
from liftinfer.engine.loop import PendingRequest
from liftinfer.errors import (
    BackendError,
    ConfigError,
    LiftinferError,
    MissingDependency,
    ModelSourceError,
    NotReady,
    RequestError,
    TargetError,
)
from liftinfer.markers import hookimpl
from liftinfer.sources import ModelSource, ResolvedModel, resolve_model
from liftinfer.targets.base import Target
from liftinfer.toggles.base import Changes, Toggle

__all__ = [
    "Backend",
    "BackendError",
    "CacheRoot",
    "Changes",
    "Completion",
    "ConfigError",
    "Constraint",
    "DecodeRow",
    "DeploymentSpec",
    "EngineConfig",
    "GenerationEngine",
    "LiftinferError",
    "MissingDependency",
    "ModelSource",
    "ModelSourceError",
    "NotReady",
    "PendingRequest",
    "PreparedRequest",
    "RequestError",
    "ResolvedModel",
    "ServeConfig",
    "Target",
    "TargetError",
    "Toggle",
    "allocate_bitmask",
    "apply_bitmask",
    "cuda_available",
    "first_stop",
    "hookimpl",
    "import_xgrammar",
    "resolve_model",
]
