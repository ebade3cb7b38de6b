"""DeploymentSpec: the neutral description of a deployment that toggles edit and targets render.

Toggles never touch a target; they return edits as dotted paths (see :meth:`DeploymentSpec.apply`), and
each target (Modal, container, local) renders the resulting spec its own way. Users edit the same paths
with ``--set PATH=VALUE`` or ``LIFTINFER_DEPLOY_SET="PATH=VALUE;PATH=VALUE"``.

Inside a deployed container every cache lives under :data:`CACHE_ROOT`: model weights under
``/cache/models`` (a volume by default), compile caches under ``/cache/compile`` (where the compile-cache
toggle mounts its volume). Targets render whatever volumes and variables the spec holds.
"""

from __future__ import annotations

import logging
import os
import posixpath
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, fields, is_dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from liftinfer.contributions import Contributions
from liftinfer.errors import ConfigError

if TYPE_CHECKING:
    from liftinfer.config import EngineConfig, ServeConfig
    from liftinfer.pluginmanager import Plugins

log = logging.getLogger("liftinfer")

CACHE_ROOT = "/cache"  # the engine's cache root (EngineConfig.cache_dir) inside a deployed container
MODELS_DIR = f"{CACHE_ROOT}/models"
CUDA_IMAGE = "nvidia/cuda:12.8.1-devel-ubuntu22.04"  # nvcc included: FlashInfer compiles kernels at start-up
DEPLOY_SET_ENV = "LIFTINFER_DEPLOY_SET"
_NAME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9._-]{0,63}$")


@dataclass
class ImageSpec:
    """What the serving image holds.

    Without ``base``, targets start from ``os_image`` (a CUDA image for GPUs, a slim Python image for CPU
    when None), add ``python``, and install ``heavy_packages`` in a layer of their own. With ``base`` (a
    prebuilt image: the base-image toggle sets it, ``liftinfer build-base`` builds it) they start from it
    and skip ``heavy_packages``, which the base already holds. ``packages`` are installed with uv on top.
    ``liftinfer`` says where liftinfer itself comes from: ``"local"`` (this machine's source) or a
    requirement such as ``"liftinfer[vllm]==0.1.0"`` installed from the package index.
    """

    base: str | None = None
    os_image: str | None = None
    python: str = "3.11"
    heavy_packages: list[str] = field(default_factory=list)
    packages: list[str] = field(default_factory=list)  # installed with uv
    system_packages: list[str] = field(default_factory=list)
    commands: list[str] = field(default_factory=list)  # run after the installs
    env: dict[str, str] = field(default_factory=dict)  # set while building (and kept in the image)
    liftinfer: str = "local"


@dataclass
class VolumeSpec:
    """A persistent volume: ``name`` is the volume's name where the target has named volumes."""

    name: str
    purpose: str = ""
    # Filled once by a prime job (`liftinfer cache prime --target ...`), which alone writes and commits it;
    # serving containers mount it read-only, so replicas never race to write.
    primed: bool = False


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
    target_concurrency: int | None = None  # where the autoscaler adds containers (None: at ``concurrency``)
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
    api_key_secret: str | None = None  # a platform secret holding LIFTINFER_API_KEY
    env: dict[str, str] = field(default_factory=dict)  # the serving process's environment
    engine: dict[str, Any] = field(default_factory=dict)  # EngineConfig values for the served engine
    serve: dict[str, Any] = field(default_factory=dict)  # ServeConfig values for the served app
    port: int = 8000
    snapshot: bool = False  # memory snapshots where the target has them
    extras: dict[str, Any] = field(default_factory=dict)  # target-specific settings

    def apply(self, path: str, value: Any) -> None:
        """Apply one edit: ``"a.b"`` sets a field or a dict key; ``"a.b+"`` extends a list.

        Under a dict field the rest of the path is one key, so mount paths and variable names need no
        escaping: ``"image.base"``, ``"env.VLLM_CACHE_ROOT"``, ``"volumes./cache"``, ``"image.packages+"``.
        """
        _apply(self, path.rstrip("+"), value, path.endswith("+"), path)

    def checked(self) -> DeploymentSpec:
        """The spec with every volume as a :class:`VolumeSpec`, after checking values targets rely on.

        Edits may name a volume by a string or a dict; a target renders only checked specs.
        """
        self.volumes = {path: _volume(path, v) for path, v in self.volumes.items()}
        _check(self)
        return self

    def to_dict(self) -> dict[str, Any]:
        return asdict(self.checked())


def _volume(path: str, value: Any) -> VolumeSpec:
    if isinstance(value, VolumeSpec):
        return value
    if isinstance(value, str):
        return VolumeSpec(value)
    if isinstance(value, dict) and "name" in value:
        return VolumeSpec(**value)
    raise ConfigError(f"deployment volume at {path!r}: expected a volume name, got {value!r}",
                      field=f"volumes.{path}")


def _check(spec: DeploymentSpec) -> None:
    def bad(path: str, why: str) -> ConfigError:
        return ConfigError(f"deployment {path}: {why}", field=path)

    if not _NAME.match(spec.name):
        raise bad("name", f"{spec.name!r} must be letters, digits, '.', '_' or '-' (at most 64)")
    for path, volume in spec.volumes.items():
        if not path.startswith("/") or posixpath.normpath(path) != path or path in ("/", "/tmp", "/root"):
            raise bad(f"volumes.{path}", "a mount path must be absolute and canonical (not /, /tmp, /root)")
        if not _NAME.match(volume.name):
            raise bad(f"volumes.{path}", f"volume name {volume.name!r}: letters, digits, '.', '_' or '-'")
    seen: dict[str, str] = {}
    for path, volume in spec.volumes.items():
        if volume.name in seen:
            raise bad(f"volumes.{path}", f"volume {volume.name!r} is also mounted at {seen[volume.name]}")
        seen[volume.name] = path
    if spec.gpu.count < 1:
        raise bad("gpu.count", "must be at least 1")
    scaling = spec.scaling
    if not 2 <= scaling.scaledown_window <= 3600:
        raise bad("scaling.scaledown_window", f"must be 2 to 3600 seconds (got {scaling.scaledown_window})")
    if scaling.min_containers < 0:
        raise bad("scaling.min_containers", "must be 0 or more")
    if scaling.max_containers is not None and scaling.max_containers < max(1, scaling.min_containers):
        raise bad("scaling.max_containers", f"must be at least 1 and at least min_containers "
                  f"({scaling.min_containers})")
    if scaling.concurrency < 1:
        raise bad("scaling.concurrency", "must be at least 1")
    if scaling.target_concurrency is not None and not 1 <= scaling.target_concurrency <= scaling.concurrency:
        raise bad("scaling.target_concurrency", f"must be 1 to concurrency ({scaling.concurrency})")


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
    elif is_dataclass(getattr(node, head)) and not is_dataclass(value):
        raise ConfigError(f"deployment edit {full!r}: {head!r} has fields of its own; set them one by one")
    else:
        setattr(node, head, value)


def parse_edits(items: list[str] | tuple[str, ...], source: str = "--set") -> list[tuple[str, Any]]:
    """``PATH=VALUE`` strings as (path, value) edits; VALUE is parsed as JSON when it can be."""
    from liftinfer.config import parse_assignments

    return parse_assignments(items, source, name="PATH", example="scaling.min_containers=1", field="set")


def edits_from_env(environ: dict[str, str]) -> list[tuple[str, Any]]:
    """The edits in ``LIFTINFER_DEPLOY_SET`` (``PATH=VALUE`` items separated by ``;``)."""
    raw = environ.get(DEPLOY_SET_ENV, "")
    return parse_edits([i for i in raw.split(";") if i.strip()], source=DEPLOY_SET_ENV)


# ---- assembly: what every target renders ------------------------------------------------------------------

# ServeConfig fields a deployment carries: all but host, port, target and keys, the target's business.
_NOT_CARRIED = frozenset({"host", "port", "target", "api_key", "api_key_file"})


def build_spec(engine: EngineConfig, serve: ServeConfig, plugins: Plugins,
               edits: Sequence[tuple[str, Any]] = ()) -> DeploymentSpec:
    """The deployment of ``engine`` behind ``serve``, in this order: the user's edits (``LIFTINFER_DEPLOY_SET``,
    then ``--set``), what liftinfer itself needs (CUDA and vLLM where there is a GPU, else the CPU extra), the
    switched-on toggles' edits (one that would undo a user's edit is an error), every ``liftinfer_deployment``
    hook."""
    user = [*edits_from_env(dict(os.environ)), *edits]
    spec = DeploymentSpec()
    for path, value in user:
        spec.apply(path, value)
    _complete(spec)
    changes = plugins.toggle_changes(engine, None)
    for warning in changes.warnings:
        log.warning(warning)
    merged = Contributions("deployment setting").add("--set", {p: v for p, v in user if not p.endswith("+")})
    for owner, deployment in changes.owners("deployment"):
        merged.add(owner, deployment)
    changes.apply_to(spec)
    spec.engine = {**engine_values(engine, list(changes.toggles)), **spec.engine}
    carried = set(serve.model_fields_set) - _NOT_CARRIED
    spec.serve = {**{k: v for k, v in serve.model_dump(mode="json").items() if k in carried}, **spec.serve}
    plugins.deployment(spec, engine)
    _warn_about_local_model(spec)
    return spec.checked()


def _complete(spec: DeploymentSpec) -> None:
    """Fill in what liftinfer itself needs, where the user's edits left it open."""
    from liftinfer.targets.common import requirements

    gpu = spec.gpu.type is not None
    core, heavy = requirements("vllm" if gpu else "cpu")
    if gpu and spec.image.os_image is None:
        spec.image.os_image = CUDA_IMAGE
    if not spec.image.heavy_packages:
        spec.image.heavy_packages = heavy
    spec.image.packages = [*core, *(p for p in spec.image.packages if p not in core)]
    spec.volumes.setdefault(MODELS_DIR, VolumeSpec(f"{spec.name}-models", "model weights"))
    spec.env.setdefault("HF_HOME", f"{MODELS_DIR}/hf")


def engine_values(engine: EngineConfig, toggles: list[str]) -> dict[str, Any]:
    """The engine settings a deployment carries: what was set here, with the container's cache root."""
    values = engine.model_dump(mode="json", include=engine.model_fields_set - {"cache_dir"})
    values["cache_dir"] = CACHE_ROOT
    values.pop("toggles", None)
    if toggles:
        values["toggles"] = toggles
    return values


def _warn_about_local_model(spec: DeploymentSpec) -> None:
    model = str(spec.engine.get("model", ""))
    under_volume = any(model.startswith(path.rstrip("/") + "/") for path in spec.volumes)
    if model and not under_volume and Path(model).expanduser().exists():
        log.warning("model %r is a path on this machine; the deployment will not have it. Use a hub id or a "
                    "packaged model, or a path inside one of its volumes", model)
