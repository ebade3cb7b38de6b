"""What a deployment target is. Targets render a configuration; they never know which toggles exist."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from liftinfer.errors import TargetError

if TYPE_CHECKING:
    from liftinfer.config import EngineConfig, ServeConfig
    from liftinfer.plugins import Plugins


class Target:
    """A place liftinfer can serve from. Subclasses override the actions they support."""

    name: ClassVar[str] = "target"
    description: ClassVar[str] = ""
    plugin: str = ""

    def serve(self, engine: EngineConfig, serve: ServeConfig, plugins: Plugins) -> None:
        """Serve in the foreground until interrupted."""
        raise TargetError(f"target {self.name!r} cannot serve")
