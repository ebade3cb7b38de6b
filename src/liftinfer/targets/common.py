"""What the deployment targets share: liftinfer's own requirements and source, tool checks, base images."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import liftinfer
from liftinfer.errors import TargetError

_EXTRA = re.compile(r"""extra\s*==\s*['"]([\w.-]+)['"]""")
BASE_IMAGES_FILE = "base-images.json"


def package_dir() -> Path:
    """The directory of the liftinfer package being run (what a ``"local"`` image ships)."""
    return Path(liftinfer.__file__).resolve().parent


def requirements(extra: str | None) -> tuple[list[str], list[str]]:
    """liftinfer's own requirements: (the core ones, the ones ``extra`` adds).

    A source checkout's pyproject.toml wins over installed metadata, so what is deployed matches the code
    being run; an installed liftinfer answers from its metadata.
    """
    lines = _requirements_from_pyproject() or _requirements_from_metadata()
    core, extras = [], []
    for line in lines:
        requirement, _, marker = line.partition(";")
        found = _EXTRA.search(marker)
        if not found:
            core.append(requirement.strip())
        elif found.group(1) == extra:
            extras.append(requirement.strip())
    return core, extras


def _requirements_from_pyproject() -> list[str] | None:
    pyproject = package_dir().parent.parent / "pyproject.toml"
    try:
        import tomllib
    except ImportError:  # Python 3.10: installed metadata it is
        return None
    try:
        project = tomllib.loads(pyproject.read_text(encoding="utf-8")).get("project", {})
    except (OSError, ValueError):
        return None
    if project.get("name") != "liftinfer":
        return None
    lines = list(project.get("dependencies", []))
    for extra, items in project.get("optional-dependencies", {}).items():
        lines += [f"{item}; extra == '{extra}'" for item in items]
    return lines


def _requirements_from_metadata() -> list[str]:
    from importlib import metadata

    try:
        return list(metadata.requires("liftinfer") or [])
    except metadata.PackageNotFoundError:
        raise TargetError("cannot tell liftinfer's requirements: it is neither installed nor run from a "
                          "source checkout with its pyproject.toml") from None


def fail_if_binary_not_installed(binary: str, purpose: str, install: str) -> str:
    """The path of ``binary``, or a TargetError saying how to install it."""
    path = shutil.which(binary)
    if path is None:
        raise TargetError(f"{purpose} needs the '{binary}' command, which is not on PATH. {install}")
    return path


def docker_engine_error() -> str | None:
    """None when a Docker engine answers, else why not (no client, or a client without an engine)."""
    docker = shutil.which("docker")
    if docker is None:
        return "the 'docker' command is not installed"
    try:
        result = subprocess.run([docker, "info", "--format", "{{.ServerVersion}}"], capture_output=True,
                                text=True, timeout=20)
    except subprocess.TimeoutExpired:
        return "'docker info' did not answer within 20 s"
    if result.returncode != 0:
        lines = [ln.strip() for ln in (result.stderr or result.stdout).splitlines() if ln.strip()]
        return "no Docker engine is reachable" + (f" ({lines[-1]})" if lines else "")
    return None


def engine_environment(values: dict[str, Any], serve: dict[str, Any]) -> dict[str, str]:
    """EngineConfig/ServeConfig values as the ``LIFTINFER_*`` variables that pydantic-settings reads back."""
    env = {}
    for key, value in {**values, **serve}.items():
        if key == "toggles":
            text = ",".join(value)
        elif isinstance(value, (dict, list, bool)):
            text = json.dumps(value)
        else:
            text = str(value)
        env[f"LIFTINFER_{key.upper()}"] = text
    return env


# ---- base images built by `liftinfer build-base`, recorded per target under the cache root -------------

def record_base_image(cache_dir: Path, name: str, target: str, ref: str) -> None:
    path = cache_dir / BASE_IMAGES_FILE
    records = _read_records(path)
    records.setdefault(name, {})[target] = ref
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(records, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def recorded_base_image(cache_dir: Path, name: str, target: str) -> str | None:
    return _read_records(cache_dir / BASE_IMAGES_FILE).get(name, {}).get(target)


def _read_records(path: Path) -> dict[str, dict[str, str]]:
    try:
        records = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return records if isinstance(records, dict) else {}
