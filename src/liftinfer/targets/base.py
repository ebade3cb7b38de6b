"""What a deployment target is. Targets render a DeploymentSpec; they never know which toggles exist.

The spec each action renders is assembled by :func:`liftinfer.deploy.build_spec`.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from liftinfer.errors import ConfigError, TargetError

if TYPE_CHECKING:
    from liftinfer.config import EngineConfig, ServeConfig
    from liftinfer.deploy import DeploymentSpec
    from liftinfer.pluginmanager import Plugins


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


def target_named(name: str, plugins: Plugins) -> Target:
    targets = plugins.targets()
    if name not in targets:
        raise ConfigError(f"unknown target {name!r}; available: {', '.join(sorted(targets))}", field="target")
    return targets[name]
