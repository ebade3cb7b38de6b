"""What a deployment target is. Targets render a DeploymentSpec; they never know which toggles exist.

:meth:`Target.spec` builds the spec every action renders, in this order: the user's edits (``--set`` and
``LIFTINFER_DEPLOY_SET``), the image liftinfer itself needs (CUDA and vLLM where there is a GPU, else the
CPU extra), the switched-on toggles' deployment edits, then every ``liftinfer_deployment`` hook.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from liftinfer.config import ServeConfig
from liftinfer.deploy import CACHE_ROOT, CUDA_IMAGE, MODELS_DIR, DeploymentSpec, VolumeSpec, edits_from_env
from liftinfer.errors import ConfigError, TargetError

if TYPE_CHECKING:
    from liftinfer.config import EngineConfig
    from liftinfer.pluginmanager import Plugins

log = logging.getLogger("liftinfer")

# ServeConfig fields a deployment carries: all but host, port, target and keys, the target's business.
SERVE_FIELDS = frozenset(ServeConfig.model_fields) - {"host", "port", "target", "api_key", "api_key_file"}


class Target:
    """A place liftinfer can serve from. Subclasses override the actions they support."""

    name: ClassVar[str] = "target"
    description: ClassVar[str] = ""
    plugin: str = ""

    def serve(self, engine: EngineConfig, serve: ServeConfig, plugins: Plugins) -> None:
        """Serve in the foreground until interrupted."""
        raise TargetError(f"target {self.name!r} cannot serve")

    def deploy(self, spec: DeploymentSpec, engine: EngineConfig) -> list[str]:
        """Deploy for good; return the endpoint URLs."""
        raise TargetError(f"target {self.name!r} cannot deploy; try `liftinfer build` or `liftinfer export`")

    def build(self, spec: DeploymentSpec, engine: EngineConfig, out: Path) -> list[Path]:
        """Write what building a deployment takes (a build context) into ``out``; return the files."""
        raise TargetError(f"target {self.name!r} has nothing to build")

    def export(self, spec: DeploymentSpec, engine: EngineConfig, out: Path) -> Path:
        """Write one standalone file that deploys ``spec`` with the platform's own tools."""
        raise TargetError(f"target {self.name!r} cannot export")

    def build_base(self, spec: DeploymentSpec, engine: EngineConfig, tag: str, out: Path | None) -> str:
        """Build the base image (CUDA, Python, the heavy packages) once; return its reference."""
        raise TargetError(f"target {self.name!r} has no base image")

    def prime(self, spec: DeploymentSpec, engine: EngineConfig) -> dict[str, Any]:
        """Fill the spec's primed volumes with one start on the target, committed once; return a report."""
        raise TargetError(f"target {self.name!r} cannot prime caches; run `liftinfer cache prime` where it serves")

    def spec(self, engine: EngineConfig, serve: ServeConfig, plugins: Plugins,
             edits: Sequence[tuple[str, Any]] = ()) -> DeploymentSpec:
        """The deployment of ``engine`` behind ``serve``, as toggles, hooks and the user's edits make it."""
        user = [*edits_from_env(dict(os.environ)), *edits]
        spec = DeploymentSpec()
        for path, value in user:
            spec.apply(path, value)
        self.complete(spec)
        changes = plugins.toggle_changes(engine, None)
        for warning in changes.warnings:
            log.warning(warning)
        _refuse_overridden(user, changes.deployment, changes.toggles)
        changes.apply_to(spec)
        spec.engine = {**engine_values(engine, list(changes.toggles)), **spec.engine}
        spec.serve = {**{k: v for k, v in serve.model_dump(mode="json").items()
                         if k in SERVE_FIELDS and k in serve.model_fields_set}, **spec.serve}
        plugins.deployment(spec, engine)
        _warn_about_local_model(spec)
        return spec.checked()

    def complete(self, spec: DeploymentSpec) -> None:
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


def _refuse_overridden(user: Sequence[tuple[str, Any]], deployment: Any, toggles: Sequence[str]) -> None:
    """A toggle may not silently undo what the user set: same path, different value, is an error."""
    chosen = {path: value for path, value in user if not path.endswith("+")}
    for path, value in deployment.items():
        if path in chosen and chosen[path] != value:
            raise ConfigError(
                f"--set {path}={chosen[path]!r} conflicts with the toggles ({', '.join(toggles)}), "
                f"which set it to {value!r}; drop one of them", field=path)


def target_named(name: str, plugins: Plugins) -> Target:
    targets = plugins.targets()
    if name not in targets:
        raise ConfigError(f"unknown target {name!r}; available: {', '.join(sorted(targets))}", field="target")
    return targets[name]
