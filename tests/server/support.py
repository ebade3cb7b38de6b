"""What the reliability tests share: an engine that decodes through real grammars, and servers on loopback.

``GrammarEngine`` stands in for the model where hundreds of requests must run in seconds: it compiles
every schema with xgrammar (a character-level vocabulary) and walks the grammar to a short output, so
requests take the real path — limits, checks, compilation, the grammar, validation — without weights.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Iterator
from typing import Any

import httpx

from liftinfer.config import EngineConfig, ServeConfig
from liftinfer.engine.base import Completion, GenerationEngine, PreparedRequest
from liftinfer.server import create_app
from tests.conftest import PERSON, ThreadedServer

VOCAB = [chr(i) for i in range(32, 127)] + ["\n", "<eos>"]
STOP = len(VOCAB) - 1
# Characters that end a value soonest, tried first so that the walk stays short.
PREFERRED = '}]"0tfn1,:'
GOOD = {"prompt": "Ann, 31", "schema": PERSON, "max_tokens": 64}


class GrammarEngine(GenerationEngine):
    """Decodes under the compiled grammar, choosing the tokens that close the JSON value soonest."""

    backend_name = "grammar-walk"

    def __init__(self, *, delay_s: float = 0.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.delay_s = delay_s

    def _load(self) -> None:
        self.model_name = "grammar-walk"

    def tokenizer_info(self) -> Any:
        import xgrammar

        return xgrammar.TokenizerInfo(VOCAB, stop_token_ids=[STOP])

    async def _complete(self, prepared: PreparedRequest) -> Completion:
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        text, reason = walk(prepared.constraint.matcher(), prepared.max_tokens, prepared.seed or 0)
        return Completion(text=text, finish_reason=reason, prompt_tokens=len(prepared.chat),
                          completion_tokens=len(text) + (reason == "stop"))


def walk(matcher: Any, max_tokens: int, seed: int) -> tuple[str, str]:
    from liftinfer.engine.constraints import allocate_bitmask

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


def grammar_engine(tmp_path: Any, **config: Any) -> GrammarEngine:
    delay = config.pop("delay_s", 0.0)
    engine = GrammarEngine(delay_s=delay, config=EngineConfig(cache_dir=tmp_path, **config))
    engine.load()
    return engine


@contextlib.contextmanager
def serving(engine: GenerationEngine, **serve: Any) -> Iterator[ThreadedServer]:
    """The app around ``engine`` on a loopback port, stopped (and the engine closed) afterwards."""
    app = create_app(engine, serve_config=ServeConfig(warmup_on_start=False, **serve))
    server = ThreadedServer(app).__enter__()
    try:
        yield server
    finally:
        server.__exit__()


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
