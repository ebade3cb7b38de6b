"""The endpoints: /generate, /v1/chat/completions, /health, /warmup, /metrics."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any, Literal

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST
from pydantic import BaseModel, ConfigDict, Field

from liftinfer.engine.base import GenerationEngine, make_request
from liftinfer.engine.request import ChatMessage, GenerateRequest, GenerateResult, SamplingOptions
from liftinfer.errors import LiftinferError, NotReady, RequestError, RequestTimeout, SchemaError

router = APIRouter()

LOAD_POLL_S = 0.05

ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    code: {"description": desc} for code, desc in (
        (400, "invalid request"), (401, "missing or wrong API key"), (408, "request body sent too slowly"),
        (413, "request body too large"), (415, "not JSON"),
        (422, "unusable schema, or an output that did not validate"), (429, "queue full"),
        (503, "model not ready"), (504, "request timed out"))
}


async def _engine(request: Request) -> GenerationEngine:
    """The engine, once loaded; a request that arrives during loading waits (bounded) for it.

    At most ``max_queue`` requests wait for the model at once: more are refused with 503 and Retry-After
    rather than piling up.
    """
    engine: GenerationEngine = request.app.state.engine
    if engine.ready:
        return engine
    state = request.app.state
    waiting = getattr(state, "waiting_for_load", 0)
    if waiting >= engine.config.max_queue:
        raise NotReady(f"the model is still loading and {waiting} requests already wait for it; retry")
    state.waiting_for_load = waiting + 1
    try:
        deadline = time.monotonic() + state.serve.load_wait_s
        while not engine.ready:
            if engine.state in ("failed", "closed"):
                raise NotReady(f"the model is not available: {engine.error or engine.state}")
            if time.monotonic() >= deadline:
                raise NotReady("the model is still loading; retry shortly")
            await asyncio.sleep(LOAD_POLL_S)
    finally:
        state.waiting_for_load -= 1
    return engine


async def _run(request: Request, generate_request: GenerateRequest) -> GenerateResult:
    engine = await _engine(request)
    timeout = request.app.state.serve.request_timeout_s
    try:
        result = await asyncio.wait_for(engine.agenerate(generate_request), timeout)
    except asyncio.TimeoutError:
        raise RequestTimeout(f"the request took longer than {timeout:g} s") from None
    request.app.state.metrics.observe_result(result)
    return result


@router.post("/generate", responses=ERROR_RESPONSES, summary="Generate JSON that validates against a schema")
async def generate(body: GenerateRequest, request: Request) -> dict[str, Any]:
    result = await _run(request, body)
    return result.to_api()


class JsonSchemaFormat(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="ignore")

    name: str = Field("output", max_length=64)
    description: str | None = None
    schema_: dict[str, Any] = Field(alias="schema")
    strict: bool | None = None


class ResponseFormat(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: Literal["json_schema", "json_object", "text"]
    json_schema: JsonSchemaFormat | None = None


class ChatCompletionRequest(SamplingOptions):
    """OpenAI's chat completion request; ``response_format`` must ask for JSON."""

    model_config = ConfigDict(extra="ignore")

    model: str | None = None
    messages: list[ChatMessage] = Field(min_length=1)
    response_format: ResponseFormat | None = None
    max_completion_tokens: int | None = Field(None, ge=1)
    n: int = Field(1, ge=1, le=1, description="only one choice per request")
    stream: Literal[False] = False
    strict: bool = True


def _chat_to_request(body: ChatCompletionRequest) -> GenerateRequest:
    fmt = body.response_format
    if fmt is None or fmt.type == "text":
        raise RequestError(
            'response_format is required: {"type": "json_schema", "json_schema": {"name": ..., '
            '"schema": {...}}} or {"type": "json_object"}; liftinfer only generates schema-constrained JSON',
            field="response_format",
        )
    if fmt.type == "json_schema":
        if fmt.json_schema is None:
            raise RequestError("response_format.json_schema: field required",
                               field="response_format.json_schema")
        schema, strict = fmt.json_schema.schema_, fmt.json_schema.strict
    else:
        schema, strict = {"type": "object"}, None
    return make_request(
        messages=[m.model_dump() for m in body.messages],
        schema=schema,
        max_tokens=body.max_completion_tokens or body.max_tokens,
        temperature=body.temperature,
        top_p=body.top_p,
        seed=body.seed,
        stop=body.stop,
        strict=body.strict if strict is None else strict,
    )


@router.post("/v1/chat/completions", responses=ERROR_RESPONSES, summary="OpenAI-compatible structured output")
async def chat_completions(body: ChatCompletionRequest, request: Request) -> dict[str, Any]:
    generate_request = _chat_to_request(body)
    try:
        result = await _run(request, generate_request)
    except SchemaError as exc:
        if body.response_format is not None and body.response_format.type == "json_schema":
            exc.field = "response_format.json_schema.schema"  # where this client put it
        raise
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": result.model,
        "choices": [{
            "index": 0,
            "message": {"role": "assistant", "content": result.text},
            "finish_reason": "length" if result.finish_reason == "length" else "stop",
            "logprobs": None,
        }],
        "usage": result.usage.model_dump(),
        "liftinfer": {"timings": result.timings.model_dump(), "grammar_cache_hit": result.grammar_cache_hit,
                      "enforcement": result.enforcement, "attempts": result.attempts},
    }


@router.get("/health", summary="Readiness, model, backend and start-up timings (503 until ready)")
async def health(request: Request) -> JSONResponse:
    engine: GenerationEngine = request.app.state.engine
    body = engine.health()
    return JSONResponse(body, status_code=200 if body["ready"] else 503)


@router.post("/warmup", responses=ERROR_RESPONSES, summary="Load the model and run one request (idempotent)")
async def warmup(request: Request) -> dict[str, Any]:
    engine: GenerationEngine = request.app.state.engine
    try:
        return await asyncio.to_thread(engine.warmup)
    except LiftinferError:
        raise
    except Exception as exc:
        raise NotReady(f"warm-up failed: {engine.error or exc}") from None


@router.get("/metrics", summary="Prometheus metrics")
async def metrics(request: Request) -> Response:
    return Response(request.app.state.metrics.render(), media_type=CONTENT_TYPE_LATEST)
