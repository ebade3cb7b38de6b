"""Every error leaves the server in one JSON shape (see ``liftinfer.errors``)."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from liftinfer.errors import LiftinferError, RequestError, SchemaTooComplex, error_body, request_error_from

log = logging.getLogger("liftinfer.server")

_HTTP_TYPES = {400: "invalid_request", 404: "not_found", 405: "method_not_allowed", 413: "payload_too_large",
               415: "unsupported_media_type", 401: "unauthorized", 429: "overloaded"}


def error_response(exc: LiftinferError, request: Request | None = None) -> JSONResponse:
    if request is not None:
        _count(request, exc.type)
    return JSONResponse(exc.to_dict(), status_code=exc.status, headers=exc.headers or None)


def _count(request: Request, kind: str) -> None:
    metrics = getattr(request.app.state, "metrics", None)
    if metrics is not None:
        metrics.errors.labels(kind).inc()


def validation_error(exc: RequestValidationError) -> RequestError:
    """Name the field and the problem, as a client would want to read it."""
    errors = list(exc.errors())
    first = errors[0] if errors else {}
    kind = first.get("type", "")
    loc = [str(p) for p in first.get("loc", ()) if p != "body"]
    if kind == "json_invalid":
        reason = (first.get("ctx") or {}).get("error", "")
        return RequestError(f"request body is not valid JSON{': ' + str(reason) if reason else ''}")
    if kind == "missing" and not loc:
        return RequestError("request body is required: a JSON object")
    if kind in ("model_attributes_type", "dict_type") and not loc:
        return RequestError("request body must be a JSON object")
    return request_error_from(errors)


def body_parse_error(cause: BaseException | None) -> RequestError:
    """Why FastAPI could not parse a JSON body, in a client's words (it says 'error parsing the body')."""
    if isinstance(cause, UnicodeDecodeError):
        return RequestError(f"request body is not valid UTF-8: byte {cause.object[cause.start]:#04x} at "
                            f"position {cause.start} ({cause.reason})")
    if isinstance(cause, RecursionError):
        return RequestError("request body nests too deeply to parse")
    if isinstance(cause, ValueError):
        return RequestError(f"request body is not valid JSON: {cause}")
    return RequestError("request body could not be parsed as JSON")


def install(app: FastAPI) -> None:
    @app.exception_handler(LiftinferError)
    async def _liftinfer(request: Request, exc: LiftinferError) -> JSONResponse:
        return error_response(exc, request)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        return error_response(validation_error(exc), request)

    @app.exception_handler(HTTPException)
    async def _http(request: Request, exc: HTTPException) -> JSONResponse:
        if exc.status_code == 400 and exc.__cause__ is not None:
            return error_response(body_parse_error(exc.__cause__), request)
        kind = _HTTP_TYPES.get(exc.status_code, "http_error")
        _count(request, kind)
        return JSONResponse(error_body(kind, str(exc.detail)), status_code=exc.status_code,
                            headers=getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        if isinstance(exc, RecursionError):  # past the engine's depth checks, e.g. a $ref loop via an $id
            return error_response(SchemaTooComplex(
                "the schema, or an output it allows, nests or recurses too deeply to process"), request)
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        _count(request, "internal_error")
        return JSONResponse(error_body("internal_error", "internal server error; see the server log"),
                            status_code=500)
