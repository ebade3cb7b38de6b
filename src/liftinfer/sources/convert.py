"""GGUF models converted once to a safetensors directory in the cache root.

Loading that directory is far faster than dequantising the GGUF on every start, and it is what vLLM wants.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

from liftinfer.engine.cache import CacheRoot
from liftinfer.sources.base import ResolvedModel, file_lock, status


def ensure_hf_dir(model: ResolvedModel, cache: CacheRoot) -> Path:
    """A Hugging Face safetensors directory for ``model``, converting a GGUF once into the cache root.

    Weights are stored as float32, exactly the GGUF's dequantised values; backends cast on load.
    """
    if model.format == "hf":
        return model.path
    digest = hashlib.sha256(f"{model.path}:{model.path.stat().st_size}".encode()).hexdigest()[:12]
    target = cache.models / model.name / f"hf-{digest}"
    with file_lock(target):
        if not (target / "config.json").exists():
            status(f"converting {model.path.name} to a safetensors directory (once) in {target}")
            partial = target.with_name(target.name + ".partial")
            shutil.rmtree(partial, ignore_errors=True)
            _convert_gguf(model.path, partial)
            shutil.rmtree(target, ignore_errors=True)
            os.replace(partial, target)
    return target


def _convert_gguf(gguf: Path, out: Path) -> None:
    try:
        import torch
        from safetensors.torch import save_file
        from transformers import AutoModelForCausalLM, AutoTokenizer
    except ImportError as exc:
        from liftinfer.errors import MissingDependency

        raise MissingDependency(exc.name or "transformers", "cpu", "Loading a GGUF model") from None
    tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    model = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32)
    config = model.config
    if hasattr(config, "quantization_config"):
        delattr(config, "quantization_config")
    state = {k: v.detach().contiguous() for k, v in model.state_dict().items()}
    if getattr(config, "tie_word_embeddings", False):
        state.pop("lm_head.weight", None)
    out.mkdir(parents=True)
    config.save_pretrained(out)
    if getattr(model, "generation_config", None) is not None:
        model.generation_config.save_pretrained(out)
    save_file(state, str(out / "model.safetensors"), metadata={"format": "pt"})
    tokenizer.save_pretrained(out)
