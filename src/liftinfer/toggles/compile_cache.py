"""``compile-cache``: one cache root for every JIT cache a start fills, kept between starts.

A vLLM start fills vLLM's torch.compile and AOT caches, FlashInfer's JIT cache (about 80 s per start on
the device when not kept: the original app missed it), Triton's and Inductor's kernel caches and the
CUDA driver's PTX cache. This toggle points all of them into ``<cache_dir>/compile`` (or
``compile_cache_dir``); deployed, that root is a volume that ``liftinfer cache prime`` fills once.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from liftinfer.config import EngineConfig
from liftinfer.deploy import VolumeSpec
from liftinfer.markers import hookimpl
from liftinfer.toggles.base import Changes, Toggle

DEPLOY_ROOT = "/cache/compile"  # where deployments mount the compile-cache volume (read-only when serving)
DEPLOY_WORK = "/tmp/liftinfer-compile"  # the writable copy a serving container starts from
VOLUME_NAME = "liftinfer-compile-cache"


# vLLM hashes VLLM_CONFIG_ROOT and VLLM_XLA_CACHE_PATH into its torch.compile cache key, and both default
# to paths under HOME: a start under another HOME (another user, a scratch HOME) misses a primed cache and
# compiles again (seen on the device: 16-18 s of torch.compile on a "primed" start). Paths that depend on
# neither HOME nor the root keep the key the same for the prime job, every replica and raw vLLM.
STABLE_VLLM_CONFIG_ROOT = "/tmp/liftinfer-vllm-config"
STABLE_VLLM_XLA_CACHE_PATH = "/tmp/liftinfer-vllm-xla-cache"


def cache_environment(root: Path | str, config_root: str | None = None) -> dict[str, str]:
    """The variables that send each JIT cache under ``root`` and keep vLLM's compile-cache key stable.

    ``config_root`` defaults to this process's ``VLLM_CONFIG_ROOT`` where the operator set one.
    """
    root = Path(root)
    return {
        "VLLM_CONFIG_ROOT": config_root or os.environ.get("VLLM_CONFIG_ROOT", STABLE_VLLM_CONFIG_ROOT),
        "VLLM_XLA_CACHE_PATH": STABLE_VLLM_XLA_CACHE_PATH,
        "VLLM_CACHE_ROOT": str(root / "vllm"),
        "FLASHINFER_WORKSPACE_BASE": str(root / "flashinfer"),
        "TRITON_CACHE_DIR": str(root / "triton"),
        "TORCHINDUCTOR_CACHE_DIR": str(root / "inductor"),
        "CUDA_CACHE_PATH": str(root / "cuda"),
        "CUDA_CACHE_MAXSIZE": str(4 * 2**30),
    }


class CompileCache(Toggle):
    name = "compile-cache"
    description = "keep vLLM/FlashInfer/Triton/Inductor/CUDA JIT caches in one root (a volume when deployed)"

    def changes(self, config: EngineConfig, backend: str | None) -> Changes:
        # Deployed: one prime job fills the volume and commits it; serving containers mount it read-only
        # and start from a writable copy, so a kernel compiled late never races another replica's write.
        volume = VolumeSpec(VOLUME_NAME, "JIT compile caches, filled by `liftinfer cache prime`", primed=True)
        deployment: dict[str, Any] = {f"volumes.{DEPLOY_ROOT}": volume}
        # a deployment's paths are its own: nothing from this machine's environment
        remote = cache_environment(DEPLOY_WORK, config_root=STABLE_VLLM_CONFIG_ROOT)
        deployment.update({f"env.{k}": v for k, v in remote.items()})
        deployment["engine.compile_cache_dir"] = DEPLOY_WORK
        deployment["engine.compile_cache_seed"] = DEPLOY_ROOT
        return Changes(environment=cache_environment(config.compile_root), deployment=deployment)


@hookimpl
def liftinfer_register_toggles(register: Any) -> None:
    register(CompileCache())
