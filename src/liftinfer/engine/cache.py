"""One cache root holds everything liftinfer keeps between runs.

::

    <root>/downloads/          wheels fetched by model sources (checked against pinned hashes)
    <root>/models/             unpacked GGUF files and converted safetensors directories
    <root>/compile/vllm/       vLLM's torch.compile and AOT caches (VLLM_CACHE_ROOT)
    <root>/compile/flashinfer/ FlashInfer's JIT cache
    <root>/compile/triton/     Triton's kernel cache
    <root>/compile/inductor/   TorchInductor's cache
    <root>/compile/cuda/       the CUDA driver's PTX JIT cache
"""

from __future__ import annotations

import contextlib
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

COMPILE_CACHES = ("vllm", "flashinfer", "triton", "inductor", "cuda")


@dataclass(frozen=True)
class CacheRoot:
    root: Path

    @property
    def downloads(self) -> Path:
        return self.root / "downloads"

    @property
    def models(self) -> Path:
        return self.root / "models"

    @property
    def compile(self) -> Path:
        return self.root / "compile"

    def compile_dir(self, name: str) -> Path:
        if name not in COMPILE_CACHES:
            raise ValueError(f"unknown compile cache {name!r}; known: {', '.join(COMPILE_CACHES)}")
        return self.compile / name

    def ensure(self, path: Path) -> Path:
        path.mkdir(parents=True, exist_ok=True)
        return path

    def sizes(self) -> dict[str, int]:
        """Bytes used under each top-level part of the root."""
        out: dict[str, int] = {}
        for part in ("downloads", "models", *(f"compile/{c}" for c in COMPILE_CACHES)):
            out[part] = dir_size(self.root / part)
        return out

    def clear(self, part: str) -> None:
        target = (self.root / part).resolve()
        if self.root.resolve() not in target.parents:
            raise ValueError(f"{part!r} is not inside the cache root {self.root}")
        shutil.rmtree(target, ignore_errors=True)


def seed_compile_caches(seed: Path, root: Path) -> bool:
    """Copy primed caches from ``seed`` (read-only) into ``root`` (writable) unless ``root`` has some already.

    Returns whether anything was copied. A missing seed (not primed yet) copies nothing: a cold start.
    """
    if not seed.is_dir() or not any(seed.iterdir()):
        return False
    if root.is_dir() and any(root.iterdir()):
        return False
    shutil.copytree(seed, root, dirs_exist_ok=True, symlinks=True)
    return True


def dir_size(path: Path) -> int:
    total = 0
    for dirpath, _dirs, files in os.walk(path):
        for name in files:
            with contextlib.suppress(OSError):  # a file removed while walking
                total += os.lstat(os.path.join(dirpath, name)).st_size
    return total
