"""One error hierarchy. Each error knows its HTTP status, its CLI exit code and its JSON shape.

Every error a client can see has the same body::

    {"error": {"type": "invalid_request", "message": "...", "field": "max_tokens", "details": {...}}}
"""

from __future__ import annotations

from typing import Any


class LiftinferError(Exception):
    """Base of every error liftinfer raises on purpose."""

    status: int = 500
    exit_code: int = 1
    type: str = "internal_error"

    def __init__(
        self,
        message: str,
        *,
        field: str | None = None,
        details: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.details = details or {}
        self.headers = headers or {}

    def to_dict(self) -> dict[str, Any]:
        return error_body(self.type, self.message, field=self.field, details=self.details)


def error_body(
    type: str, message: str, *, field: str | None = None, details: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The one JSON error shape, for errors that are not LiftinferError instances (404, 500)."""
    return {"error": {"type": type, "message": message, "field": field, "details": details or {}}}


class ConfigError(LiftinferError):
    """A setting, option or command-line argument is wrong."""

    status = 400
    exit_code = 2
    type = "config_error"


def config_error_from(errors: list[Any]) -> ConfigError:
    """A ConfigError naming the first setting pydantic rejected (``errors``: a ValidationError's errors())."""
    first = errors[0] if errors else {}
    field = ".".join(str(p) for p in first.get("loc", ()))
    return ConfigError(f"{field}: {first.get('msg', 'invalid value')}", field=field or None)


class MissingDependency(LiftinferError):
    """An optional dependency is not installed; the message names the extra that brings it."""

    status = 501
    exit_code = 3
    type = "missing_dependency"

    def __init__(self, package: str, extra: str, purpose: str, *, install: str | None = None) -> None:
        """``install`` replaces the hint ``pip install 'liftinfer[extra]'``; plugins name their package."""
        install = install or f"pip install 'liftinfer[{extra}]'"
        super().__init__(
            f"{purpose} needs the '{package}' package, which is not installed. Install it with: {install}",
            details={"package": package, "extra": extra},
        )


class RequestError(LiftinferError):
    """The request is malformed: a missing or wrong field, a value out of range, a body that is not JSON."""

    status = 400
    exit_code = 2
    type = "invalid_request"


def request_error_from(errors: list[Any]) -> RequestError:
    """A RequestError naming the first field pydantic rejected, and why, in a client's words."""
    first = errors[0] if errors else {}
    kind = first.get("type", "")
    loc = [str(p) for p in first.get("loc", ()) if p != "body"]
    field = ".".join("schema" if p == "schema_" else p for p in loc) or None
    message = str(first.get("msg", "invalid value")).removeprefix("Value error, ")
    if kind == "missing":
        message = "field required"
    elif kind == "extra_forbidden":
        message = "unknown field"
    if field is None and "'prompt' or 'messages'" in message:
        field = "prompt"
    described = []
    for error in errors[:10]:
        where = ".".join(str(p) for p in error.get("loc", ()) if p != "body")
        what = str(error.get("msg")).removeprefix("Value error, ")
        described.append(f"{where}: {what}" if where else what)
    return RequestError(f"{field}: {message}" if field else message, field=field, details={"errors": described})


class PayloadTooLarge(RequestError):
    status = 413
    type = "payload_too_large"


class UnsupportedMediaType(RequestError):
    status = 415
    type = "unsupported_media_type"


class SchemaError(LiftinferError):
    """The schema cannot be used: not valid JSON Schema, a $ref that does not resolve, unsatisfiable."""

    status = 422
    exit_code = 2
    type = "invalid_schema"

    def __init__(self, message: str, **kw: Any) -> None:
        kw.setdefault("field", "schema")
        super().__init__(message, **kw)


class UnresolvableRef(SchemaError):
    type = "unresolvable_ref"


class UnsatisfiableSchema(SchemaError):
    type = "unsatisfiable_schema"


class UnsupportedSchema(SchemaError):
    """A keyword that no grammar can enforce, refused because the request is strict."""

    type = "unsupported_schema"


class SchemaTooComplex(SchemaError):
    """The schema is over a size limit or its grammar did not compile within the time limit."""

    type = "schema_too_complex"


class OutputInvalid(LiftinferError):
    """The model's output does not validate against the schema (for example, cut off at max_tokens)."""

    status = 422
    exit_code = 4
    type = "output_invalid"


class Unauthorized(LiftinferError):
    status = 401
    exit_code = 5
    type = "unauthorized"


class Overloaded(LiftinferError):
    """The queue is full; the client should retry after the given number of seconds."""

    status = 429
    exit_code = 6
    type = "overloaded"

    def __init__(self, message: str, *, retry_after: int = 1, **kw: Any) -> None:
        kw.setdefault("headers", {})["Retry-After"] = str(retry_after)
        super().__init__(message, **kw)


class NotReady(LiftinferError):
    """The engine is still loading, failed to load, or is shutting down."""

    status = 503
    exit_code = 7
    type = "not_ready"

    def __init__(self, message: str, *, retry_after: int = 5, **kw: Any) -> None:
        kw.setdefault("headers", {})["Retry-After"] = str(retry_after)
        super().__init__(message, **kw)


class RequestTimeout(LiftinferError):
    status = 504
    exit_code = 8
    type = "timeout"


class ModelSourceError(LiftinferError):
    """A model could not be found, fetched, verified or unpacked."""

    status = 503
    exit_code = 9
    type = "model_unavailable"


class BackendError(LiftinferError):
    """The backend failed while generating; the server keeps running."""

    status = 500
    exit_code = 10
    type = "backend_error"


class TargetError(LiftinferError):
    """A deployment target cannot do what was asked (no credentials, no Docker engine, no network)."""

    status = 400
    exit_code = 11
    type = "target_error"
