"""The optional API key: ``Authorization: Bearer <key>`` on every endpoint but health and the API docs.

The key comes from ``LIFTINFER_API_KEY`` or the file named by ``--api-key-file`` / ``LIFTINFER_API_KEY_FILE``.
It is compared in constant time and never logged or echoed. ``/metrics`` needs the key too: request
counts and queue depth describe the traffic (Prometheus sends the key with ``authorization: {credentials}``).
"""

from __future__ import annotations

import hmac
from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from liftinfer.errors import ConfigError, Unauthorized
from liftinfer.server.errors import error_response

if TYPE_CHECKING:
    from liftinfer.config import ServeConfig

# Open without a key: load balancers probe /health; the API description holds no secrets.
OPEN_PATHS = frozenset({"/health", "/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"})


def load_api_key(serve: ServeConfig) -> str | None:
    """The key clients must send, or None when the server is open; an unusable key file is an error."""
    if serve.api_key:
        return serve.api_key
    if serve.api_key_file is None:
        return None
    try:
        key = serve.api_key_file.read_text().strip()
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else type(exc).__name__
        raise ConfigError(f"api_key_file {str(serve.api_key_file)!r} cannot be read: {reason}",
                          field="api_key_file") from None
    if not key:
        raise ConfigError(f"api_key_file {str(serve.api_key_file)!r} is empty; put the API key in it",
                          field="api_key_file")
    return key


class ApiKeyAuth:
    """Refuses requests without the key (401 with ``WWW-Authenticate: Bearer``) before reading their body."""

    def __init__(self, app: ASGIApp, *, key: str) -> None:
        self.app = app
        self._key = key.encode("utf-8")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in OPEN_PATHS:
            await self.app(scope, receive, send)
            return
        refused = self._refusal(scope)
        if refused is None:
            await self.app(scope, receive, send)
            return
        response = error_response(refused, Request(scope))
        await response(scope, receive, send)

    def _refusal(self, scope: Scope) -> Unauthorized | None:
        presented = _bearer_token(scope)
        if presented is None:
            return Unauthorized("this server needs an API key: send the header 'Authorization: Bearer <key>'",
                                field="authorization", headers={"WWW-Authenticate": "Bearer"})
        if not hmac.compare_digest(presented, self._key):
            return Unauthorized("the API key is not valid", field="authorization",
                                headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})
        return None


def _bearer_token(scope: Scope) -> bytes | None:
    for name, value in scope.get("headers", ()):
        if name.lower() == b"authorization":
            scheme, _, token = value.strip().partition(b" ")
            if scheme.lower() == b"bearer" and token.strip():
                return token.strip()
            return None
    return None
