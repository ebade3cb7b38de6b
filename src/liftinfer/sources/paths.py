"""A model on local disk: a GGUF file or a Hugging Face directory."""

from __future__ import annotations

from pathlib import Path

from liftinfer.engine.cache import CacheRoot
from liftinfer.errors import ModelSourceError
from liftinfer.sources.base import ResolvedModel


class LocalSource:
    """A local GGUF file or Hugging Face directory (config.json plus weights)."""

    name = "local"

    def resolve(self, spec: str, cache: CacheRoot) -> ResolvedModel | None:
        path = Path(spec).expanduser()
        if not path.exists():
            if spec.startswith((".", "/", "~")) or spec.endswith(".gguf"):
                raise ModelSourceError(f"model path {spec!r} does not exist")
            return None
        if path.is_file() and path.suffix == ".gguf":
            return ResolvedModel(path.stem, path.resolve(), "gguf", self.name)
        if path.is_dir() and (path / "config.json").exists():
            return ResolvedModel(path.name, path.resolve(), "hf", self.name)
        raise ModelSourceError(f"{spec!r} is neither a .gguf file nor a directory with a config.json")

