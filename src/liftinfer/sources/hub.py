"""A Hugging Face hub id, where a hub is reachable."""

from __future__ import annotations

from pathlib import Path

from liftinfer.engine.cache import CacheRoot
from liftinfer.errors import ModelSourceError
from liftinfer.sources.base import ResolvedModel


class HubSource:
    """A Hugging Face hub id (``org/name``), fetched into the hub's own cache where a hub is reachable."""

    name = "hub"

    def resolve(self, spec: str, cache: CacheRoot) -> ResolvedModel | None:
        if spec.count("/") != 1 or spec.startswith(("/", ".")):
            return None
        try:
            from huggingface_hub import snapshot_download
        except ImportError:
            raise ModelSourceError(
                f"{spec!r} looks like a hub id, but huggingface_hub is not installed (pip install 'liftinfer[cpu]')"
            ) from None
        try:
            path = snapshot_download(spec, allow_patterns=["*.json", "*.safetensors", "*.txt", "*.model",
                                                           "*.jinja", "*.tiktoken"])
        except Exception as exc:  # the hub client raises many kinds; all mean "not available here"
            raise ModelSourceError(
                f"could not fetch {spec!r} from the Hugging Face hub ({type(exc).__name__}: {exc}); "
                "use a packaged model (e.g. 'smollm2') or a local path where no hub is reachable"
            ) from None
        return ResolvedModel(spec.split("/")[1], Path(path), "hf", self.name)

