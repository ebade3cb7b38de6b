"""DeploymentSpec: the neutral description of a deployment that toggles edit and targets render.

Toggles never touch a target; they return edits as dotted paths (see :meth:`DeploymentSpec.apply`), and
each target (Modal, container, local) renders the resulting spec its own way.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, is_dataclass
from typing import Any

from liftinfer.errors import ConfigError


@dataclass
class ImageSpec:
    """What the serving image holds. ``base`` is a prebuilt image (the base-image toggle sets it)."""

    base: str | None = None
    python: str = "3.11"
    packages: list[str] = field(default_factory=list)  # installed with uv
    system_packages: list[str] = field(default_factory=list)
    commands: list[str] = field(default_factory=list)  # run after the installs
    env: dict[str, str] = field(default_factory=dict)


@dataclass
class VolumeSpec:
    """A persistent volume: ``name`` is the volume's name where the target has named volumes."""

    name: str
    purpose: str = ""


@dataclass
class GPUSpec:
    type: str | None = "H100"  # None: CPU only
    count: int = 1


@dataclass
class ScalingSpec:
    scaledown_window: int = 600  # seconds an idle container stays up (the original app's value)
    min_containers: int = 0  # keep-warm
    max_containers: int | None = None
    concurrency: int = 64  # requests one container takes at once
    startup_timeout: int = 1200
    request_timeout: int = 600


@dataclass
class DeploymentSpec:
    name: str = "liftinfer"
    image: ImageSpec = field(default_factory=ImageSpec)
    volumes: dict[str, VolumeSpec] = field(default_factory=dict)  # mount path -> volume
    gpu: GPUSpec = field(default_factory=GPUSpec)
    scaling: ScalingSpec = field(default_factory=ScalingSpec)
    regions: list[str] = field(default_factory=list)
    secrets: list[str] = field(default_factory=list)
    proxy_auth: bool = True  # deployed endpoints require the platform's proxy auth by default
    api_key_secret: str | None = None
    env: dict[str, str] = field(default_factory=dict)  # the serving process's environment
    engine: dict[str, Any] = field(default_factory=dict)  # EngineConfig values for the served engine
    snapshot: bool = False  # memory snapshots where the target has them
    extras: dict[str, Any] = field(default_factory=dict)  # target-specific settings

    def apply(self, path: str, value: Any) -> None:
        """Apply one edit: ``"a.b"`` sets a field or a dict key; ``"a.b+"`` extends a list.

        Under a dict field the rest of the path is one key, so mount paths and variable names need no
        escaping: ``"image.base"``, ``"env.VLLM_CACHE_ROOT"``, ``"volumes./cache"``, ``"image.packages+"``.
        """
        _apply(self, path.rstrip("+"), value, path.endswith("+"), path)


def _apply(node: Any, path: str, value: Any, extend: bool, full: str) -> None:
    if isinstance(node, dict):
        if extend:
            node.setdefault(path, []).extend(value if isinstance(value, list) else [value])
        else:
            node[path] = value
        return
    head, _, rest = path.partition(".")
    if not is_dataclass(node) or head not in {f.name for f in fields(node)}:
        raise ConfigError(f"deployment edit {full!r}: no field {head!r}")
    if rest:
        _apply(getattr(node, head), rest, value, extend, full)
    elif extend:
        current = getattr(node, head)
        if not isinstance(current, list):
            raise ConfigError(f"deployment edit {full!r}: {head!r} is not a list")
        current.extend(value if isinstance(value, list) else [value])
    else:
        setattr(node, head, value)
