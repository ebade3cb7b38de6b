"""What a model source is: it turns a model spec (``smollm2``, a path, ``org/name``) into a model on disk.

Sources are plugins (``liftinfer_register_model_sources``), built-in ones too (``packaged``, ``paths``,
``hub`` beside this module); the first that recognises a spec wins.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

from liftinfer.engine.cache import CacheRoot
from liftinfer.errors import ModelSourceError


@dataclass(frozen=True)
class ResolvedModel:
    """A model on local disk: a GGUF file or a Hugging Face directory."""

    name: str
    path: Path
    format: Literal["gguf", "hf"]
    source: str


class ModelSource(Protocol):
    name: str

    def resolve(self, spec: str, cache: CacheRoot) -> ResolvedModel | None:
        """Return the model on disk (fetching it if needed), or None if this source does not know ``spec``."""




def resolve_model(spec: str, cache: CacheRoot, sources: Iterable[ModelSource]) -> ResolvedModel:
    tried = []
    for source in sources:
        tried.append(source.name)
        found = source.resolve(spec, cache)
        if found is not None:
            return found
    raise ModelSourceError(
        f"no model source knows {spec!r} (tried: {', '.join(tried) or 'none'}); give a packaged model name "
        "such as 'smollm2', a path to a .gguf file or model directory, or a hub id",
        field="model",
    )


def file_lock(path: Path) -> Any:
    from filelock import FileLock

    path.parent.mkdir(parents=True, exist_ok=True)
    return FileLock(str(path) + ".lock")


def status(message: str) -> None:
    from rich.console import Console

    Console(stderr=True).print(f"[bold]liftinfer[/]: {message}")
