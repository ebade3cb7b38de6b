"""Model sources: a built-in plugin registering the packaged, paths and hub sources, asked in that order.

A source turns a model spec (``smollm2``, a path, ``org/name``) into a model on disk; third-party sources
register through the same hook (``liftinfer_register_model_sources``) and are asked before these.
"""

from __future__ import annotations

from collections.abc import Callable

from liftinfer.markers import hookimpl
from liftinfer.sources.base import ModelSource, ResolvedModel, resolve_model
from liftinfer.sources.convert import ensure_hf_dir
from liftinfer.sources.hub import HubSource
from liftinfer.sources.packaged import PackagedSource
from liftinfer.sources.paths import LocalSource

__all__ = ["ModelSource", "ResolvedModel", "ensure_hf_dir", "resolve_model"]


@hookimpl(trylast=True)
def liftinfer_register_model_sources(register: Callable[[ModelSource], None]) -> None:
    register(PackagedSource())
    register(LocalSource())
    register(HubSource())
