"""Settings, read from arguments and ``LIFTINFER_*`` environment variables (pydantic-settings)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from liftinfer.errors import ConfigError

DEFAULT_MODEL = "smollm2"


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "liftinfer"


def parse_assignments(items: Iterable[str], flag: str, name: str = "KEY", example: str = "",
                      field: str | None = None) -> list[tuple[str, Any]]:
    """``NAME=VALUE`` strings as (name, value) pairs; VALUE is parsed as JSON when it can be, else kept as text.

    A malformed item is a ConfigError naming ``flag`` and the item (and an example, when given).
    """
    pairs = []
    for item in items:
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or not key:
            hint = f", e.g. {example}" if example else ""
            raise ConfigError(f"{flag} {item!r}: expected {name}=VALUE{hint}", field=field)
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            value = raw
        pairs.append((key, value))
    return pairs


def _split_names(value: Any) -> Any:
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    return value


class EngineConfig(BaseSettings):
    """What an engine needs: which backend and model, its limits, and backend options."""

    model_config = SettingsConfigDict(env_prefix="LIFTINFER_", extra="forbid", validate_assignment=True)

    backend: str = Field("auto", description="backend name, or 'auto' to let plugins choose")
    model: str = Field(DEFAULT_MODEL, description="a packaged model name, a local path or a hub id")
    cache_dir: Path = Field(default_factory=default_cache_dir, description="root of every cache")
    compile_cache_dir: Path | None = Field(
        None, description="root of the JIT caches the compile-cache toggle persists (default: <cache_dir>/compile)"
    )
    compile_cache_seed: Path | None = Field(
        None, description="read-only compile caches (a primed volume) copied into the compile root before start"
    )
    dtype: str = Field("auto", description="weights dtype: auto, float32, bfloat16, float16")
    device: str = Field("auto", description="torch device for the transformers backend: auto, cpu, cuda")
    threads: int | None = Field(None, ge=1, description="CPU threads for the transformers backend")
    max_batch_size: int | None = Field(
        None, ge=1, le=4096, description="requests decoded together (default: 8 on CPU, vLLM's own on GPU)"
    )
    batch_window_ms: float = Field(
        5.0, ge=0, le=1000, description="how long the CPU scheduler waits for another request to join a wave "
        "before decoding it (each arrival waits anew, up to max_batch_size): a burst decodes as one batch"
    )
    grammar_backend: str = Field("auto", description="grammar engine where the backend offers a choice")
    max_model_len: int = Field(4096, ge=64, description="prompt plus output tokens, at most")
    compact_json: bool = Field(True, description="no free whitespace in generated JSON")
    grammar_cache_bytes: int = Field(256 * 2**20, ge=0, description="bound of the compiled-grammar cache")
    compile_timeout_s: float = Field(10.0, gt=0, description="time limit of one grammar compilation")
    default_max_tokens: int = Field(512, ge=1)
    max_tokens_limit: int = Field(4096, ge=1, description="largest max_tokens a request may ask for")
    max_prompt_chars: int = Field(100_000, ge=1, description="longest prompt (all messages) in characters")
    max_queue: int = Field(256, ge=1, description="requests admitted at once; more are refused with 429")
    max_schema_bytes: int = Field(256 * 2**10, ge=64, description="largest schema, as compact JSON, in bytes")
    max_schema_depth: int = Field(64, ge=2, le=512, description="deepest nesting of a schema document")
    max_schema_refs: int = Field(256, ge=0, description="most $refs one schema may hold")
    max_optional_properties: int = Field(256, ge=1, description="most optional properties of one object")
    toggles: Annotated[list[str], NoDecode] = Field(default_factory=list, description="toggles switched on")
    engine_options: dict[str, Any] = Field(default_factory=dict, description="backend-specific options")

    @field_validator("toggles", mode="before")
    @classmethod
    def _toggles(cls, value: Any) -> Any:
        return _split_names(value)

    @property
    def compile_root(self) -> Path:
        return self.compile_cache_dir or self.cache_dir / "compile"


class ServeConfig(BaseSettings):
    """How the HTTP server runs."""

    model_config = SettingsConfigDict(env_prefix="LIFTINFER_", extra="ignore")

    host: str = "127.0.0.1"
    port: int = Field(8000, ge=0, le=65535)
    target: str = "local"
    api_key: str | None = Field(None, repr=False)
    api_key_file: Path | None = None
    max_body_bytes: int = Field(2 * 2**20, ge=1024, description="largest request body (413 beyond)")
    body_timeout_s: float = Field(30.0, gt=0, description="time a client has to send its request body (408)")
    max_pending: int = Field(512, ge=1, description="requests with a body read or answered at once (429)")
    request_timeout_s: float = Field(300.0, gt=0, description="time one generation may take (504)")
    shutdown_grace_s: float = Field(30.0, ge=0, description="time in-flight requests get to end on SIGTERM")
    load_wait_s: float = Field(300.0, ge=0, description="how long a request waits for a loading engine")
    log_level: str = "info"
    warmup_on_start: bool = Field(True, description="run one request as soon as the model is loaded")
    shared_loop: bool = Field(True, description="run the engine's coroutines on the server's event loop "
                              "(off: on the engine's own loop thread, one hop between threads per request)")
