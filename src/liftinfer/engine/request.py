"""The request and result types shared by the library, the HTTP server and every backend."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    WithJsonSchema,
    computed_field,
    field_validator,
    model_validator,
)

MAX_TOKENS_CEILING = 1 << 20  # any config limit is checked by the engine; this only rejects absurd values


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: Literal["system", "user", "assistant"]
    content: str


class SamplingOptions(BaseModel):
    """Sampling fields shared by /generate, /v1/chat/completions and the library."""

    model_config = ConfigDict(extra="forbid")

    max_tokens: int | None = Field(None, ge=1, le=MAX_TOKENS_CEILING, description="default: the engine's")
    temperature: float = Field(0.0, ge=0.0, le=2.0)
    top_p: float = Field(1.0, gt=0.0, le=1.0)
    seed: int | None = Field(None, ge=0, le=2**63 - 1)
    stop: list[str] | None = Field(None, max_length=16)
    strict: bool = Field(
        True,
        description="refuse schemas with keywords that no grammar enforces (422); when false, generate "
        "under the relaxed grammar and post-validate, retrying once with another seed",
    )

    @field_validator("stop", mode="before")
    @classmethod
    def _one_stop(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @field_validator("stop")
    @classmethod
    def _nonempty_stops(cls, value: list[str] | None) -> list[str] | None:
        if value is not None and any(s == "" for s in value):
            raise ValueError("stop strings must not be empty")
        return value


class GenerateRequest(SamplingOptions):
    """A prompt (or chat messages) and a JSON Schema the output must validate against.

    ``schema`` is a JSON Schema dict or a pydantic model class.
    """

    model_config = ConfigDict(extra="forbid", populate_by_name=True, arbitrary_types_allowed=True)

    prompt: str | None = None
    messages: list[ChatMessage] | None = Field(None, min_length=1)
    schema_: Annotated[
        dict[str, Any] | type[BaseModel],
        WithJsonSchema({"type": "object", "description": "a JSON Schema the output must validate against"}),
    ] = Field(alias="schema")

    @field_validator("schema_", mode="before")
    @classmethod
    def _schema_kind(cls, value: Any) -> Any:
        if isinstance(value, type) and issubclass(value, BaseModel):
            return value
        if not isinstance(value, dict):
            raise ValueError("must be a JSON Schema object (or a pydantic model class)")
        return value

    @model_validator(mode="after")
    def _prompt_or_messages(self) -> GenerateRequest:
        if (self.prompt is None) == (self.messages is None):
            raise ValueError("give exactly one of 'prompt' or 'messages'")
        return self

    @property
    def model_class(self) -> type[BaseModel] | None:
        return self.schema_ if isinstance(self.schema_, type) else None

    @property
    def json_schema(self) -> dict[str, Any]:
        if isinstance(self.schema_, type):
            return self.schema_.model_json_schema()
        return self.schema_

    def chat(self) -> list[dict[str, str]]:
        if self.messages is not None:
            return [m.model_dump() for m in self.messages]
        return [{"role": "user", "content": self.prompt or ""}]

    def prompt_chars(self) -> int:
        return sum(len(m["content"]) for m in self.chat())


class Usage(BaseModel):
    prompt_tokens: int = 0
    completion_tokens: int = 0

    @computed_field  # type: ignore[prop-decorator]
    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


class Timings(BaseModel):
    """Milliseconds spent on each stage of one request."""

    compile_ms: float = 0.0
    queue_ms: float = 0.0
    generate_ms: float = 0.0
    total_ms: float = 0.0


FinishReason = Literal["stop", "length", "stop_string"]


class GenerateResult(BaseModel):
    """A validated output: ``data`` always validates against the request's schema."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    data: Any
    text: str
    finish_reason: FinishReason
    usage: Usage
    timings: Timings
    model: str
    backend: str
    grammar_cache_hit: bool = False
    attempts: int = 1
    enforcement: dict[str, Any] = Field(
        default_factory=dict,
        description="the grammar engine ('engine'), the schema keywords it enforces while decoding ('grammar') "
        "and those only validation afterwards enforces ('validation_only')",
    )
    parsed: BaseModel | None = Field(None, exclude=True, description="the pydantic instance, if one was given")

    def to_api(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude={"parsed"})
