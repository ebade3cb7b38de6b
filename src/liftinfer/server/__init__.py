"""The HTTP server: ``create_app(engine)`` returns a FastAPI application."""

from liftinfer.server.app import create_app

__all__ = ["create_app"]
