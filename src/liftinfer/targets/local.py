"""The local target: uvicorn on this machine, on CUDA and vLLM where present, else the CPU default."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from liftinfer.hookspecs import hookimpl
from liftinfer.targets.base import Target

if TYPE_CHECKING:
    from liftinfer.config import EngineConfig, ServeConfig
    from liftinfer.plugins import Plugins


class LocalTarget(Target):
    name = "local"
    description = "serve with uvicorn on this machine"

    def serve(self, engine: EngineConfig, serve: ServeConfig, plugins: Plugins) -> None:
        import uvicorn

        from liftinfer.server import create_app

        app = create_app(engine_config=engine, serve_config=serve, plugins=plugins)
        uvicorn.run(app, host=serve.host, port=serve.port, log_level=serve.log_level,
                    timeout_graceful_shutdown=30)


@hookimpl
def liftinfer_register_targets(register: Any) -> None:
    register(LocalTarget())
