"""The local target: uvicorn on this machine, on CUDA and vLLM where present, else the CPU default."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from liftinfer.markers import hookimpl
from liftinfer.targets.base import Target

if TYPE_CHECKING:
    from liftinfer.config import EngineConfig, ServeConfig
    from liftinfer.pluginmanager import Plugins


class LocalTarget(Target):
    name = "local"
    description = "serve with uvicorn on this machine"

    def serve(self, engine: EngineConfig, serve: ServeConfig, plugins: Plugins) -> None:
        from liftinfer.server import create_app
        from liftinfer.server.lifecycle import serve_forever

        app = create_app(engine_config=engine, serve_config=serve, plugins=plugins)
        serve_forever(app, serve)  # drains in-flight requests on SIGTERM (serve.shutdown_grace_s), exits 0


@hookimpl
def liftinfer_register_targets(register: Any) -> None:
    register(LocalTarget())
