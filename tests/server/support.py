"""What the reliability tests share: an engine that decodes through real grammars, and servers on loopback.

``GrammarEngine`` stands in for the model where hundreds of requests must run in seconds: it compiles
every schema with xgrammar (a character-level vocabulary) and walks the grammar to a short output, so
requests take the real path — limits, checks, compilation, the grammar, validation — without weights.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import threading
from collections.abc import Iterator
from typing import Any

import httpx

from liftinfer.config import EngineConfig, ServeConfig
from liftinfer.engine.base import Completion, GenerationEngine, PreparedRequest
from liftinfer.pluginmanager import get_plugins
from liftinfer.server import create_app
from tests.conftest import PERSON, ThreadedServer

VOCAB = [chr(i) for i in range(32, 127)] + ["\n", "<eos>"]
STOP = len(VOCAB) - 1
# Characters that end a value soonest, tried first so that the walk stays short.
PREFERRED = '}]"0tfn1,:'
GOOD = {"prompt": "Ann, 31", "schema": PERSON, "max_tokens": 64}


def person_or_ok(prepared: PreparedRequest) -> str:
    """Answers the warm-up request's schema with {"ok": true}, anything else with a person."""
    assert prepared.constraint is not None
    is_warmup = "ok" in prepared.constraint.schema.get("properties", {})
    return json.dumps({"ok": True} if is_warmup else {"name": "Ann", "age": 3})


class GrammarEngine(GenerationEngine):
    """Decodes under the compiled grammar, choosing the tokens that close the JSON value soonest.

    A prompt ``"sleep:<seconds>"`` makes that request take so long (a slow generation, cancellable);
    ``loaded`` can hold the model's 'loading' until a test sets it.
    """

    backend_name = "grammar-walk"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(plugins=get_plugins(), **kwargs)
        self.loaded = threading.Event()
        self.loaded.set()

    def _load(self) -> None:
        self.loaded.wait(30)
        self.model_name = "grammar-walk"

    def tokenizer_info(self) -> Any:
        import xgrammar

        return xgrammar.TokenizerInfo(VOCAB, stop_token_ids=[STOP])

    async def _complete(self, prepared: PreparedRequest) -> Completion:
        prompt = prepared.chat[-1]["content"]
        if prompt.startswith("sleep:"):
            await asyncio.sleep(float(prompt.removeprefix("sleep:")))
        text, reason = walk(prepared.constraint.matcher(), prepared.max_tokens, prepared.seed or 0)
        return Completion(text=text, finish_reason=reason, prompt_tokens=len(prepared.chat),
                          completion_tokens=len(text) + (reason == "stop"))


def walk(matcher: Any, max_tokens: int, seed: int) -> tuple[str, str]:
    from liftinfer.constraints.builder import allocate_bitmask

    rng = random.Random(seed)
    bitmask = allocate_bitmask(1, len(VOCAB))
    out: list[str] = []
    while len(out) < max_tokens:
        matcher.fill_next_token_bitmask(bitmask, 0)
        words = [int(w) & 0xFFFFFFFF for w in bitmask[0].tolist()]
        allowed = [t for t in range(len(VOCAB)) if words[t // 32] >> (t % 32) & 1]
        if STOP in allowed:
            return "".join(out), "stop"
        if not allowed:
            return "".join(out), "stop"
        token = next((t for c in PREFERRED for t in allowed if VOCAB[t] == c), None)
        if token is None or rng.random() < 0.1:
            token = rng.choice(allowed)
        matcher.accept_token(token)
        out.append(VOCAB[token])
    return "".join(out), "length"


def grammar_engine(tmp_path: Any, *, load: bool = True, **config: Any) -> GrammarEngine:
    engine = GrammarEngine(config=EngineConfig(cache_dir=tmp_path, **config))
    return engine.load() if load else engine  # type: ignore[return-value]


@contextlib.contextmanager
def serving(engine: GenerationEngine, **serve: Any) -> Iterator[ThreadedServer]:
    """The app around ``engine`` on a loopback port; stopping it closes the engine (the app owns it)."""
    app = create_app(engine, serve_config=ServeConfig(warmup_on_start=False, **serve))
    server = ThreadedServer(app).__enter__()
    try:
        yield server
    finally:
        server.__exit__()


@contextlib.contextmanager
def serving_shared(engine: GenerationEngine, **serve: Any) -> Iterator[ThreadedServer]:
    """Like :func:`serving`, for the session's real engine: the app may not close it on shutdown."""
    close = engine.close
    engine.close = lambda: None  # type: ignore[method-assign]
    try:
        with serving(engine, **serve) as running:
            yield running
    finally:
        engine.close = close  # type: ignore[method-assign]


def assert_error(response: httpx.Response, status: int, type_: str | None = None,
                 field: str | None = None, says: str | None = None) -> dict[str, Any]:
    """The response is the one error shape with this status (and type, field, words in the message)."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"type", "message", "field", "details"}, body
    error = body["error"]
    if type_ is not None:
        assert error["type"] == type_, error
    if field is not None:
        assert error["field"] == field, error
    if says is not None:
        assert says in error["message"], error
    return error


def assert_still_serving(client: httpx.Client) -> None:
    """A good request after whatever came before: the server answers it normally."""
    response = client.post("/generate", json=GOOD)
    assert response.status_code == 200, response.text
    assert set(response.json()["data"]) == {"name", "age"}
