"""One request's row in a backend's decode loop: its mask, its tokens, and why it ended.

Backends that step a batch themselves (the transformers scheduler, the llama.cpp plugin) keep one
:class:`DecodeRow` per request: each step they :meth:`~DecodeRow.fill` its row of the token bitmask, sample
from the masked logits, and :meth:`~DecodeRow.advance` it with the chosen token, which says when the row is
done (the grammar ended it, an end-of-sequence token, a stop string, ``max_tokens``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from typing import Any

from liftinfer.engine.base import Completion, PreparedRequest
from liftinfer.errors import BackendError


def first_stop(text: str, stops: Collection[str] | None) -> int | None:
    """Where the earliest of ``stops`` begins in ``text``; None when none occurs."""
    found = [text.index(s) for s in stops or () if s in text]
    return min(found) if found else None


@dataclass
class DecodeRow:
    """The decoding state of one request in a batch.

    ``detokenize`` turns token ids into text (for stop strings and the final text); ``eos_ids`` end an
    unconstrained row (a constrained one ends where its grammar does).
    """

    prepared: PreparedRequest
    detokenize: Callable[[list[int]], str]
    eos_ids: Collection[int] = ()
    tokens: list[int] = field(default_factory=list)
    matcher: Any = None

    def __post_init__(self) -> None:
        constraint = self.prepared.constraint
        if self.matcher is None and constraint is not None:
            self.matcher = constraint.matcher()

    def fill(self, bitmask: Any, index: int) -> None:
        """Write this row's allowed tokens into row ``index`` of ``bitmask`` (every token when unconstrained)."""
        if self.matcher is None:
            bitmask[index] = -1
        else:
            self.matcher.fill_next_token_bitmask(bitmask, index)

    def advance(self, token: int, *, context_full: bool = False) -> str | None:
        """Take one sampled token; return why the row finished ("stop", "stop_string", "length"), or None.

        ``context_full``: the backend has no room for another token of this row.
        """
        if self.matcher is None:
            if token in self.eos_ids:
                return "stop"
        elif not self.matcher.accept_token(token):
            raise BackendError(f"the grammar refused token {token} it had allowed")
        elif self.matcher.is_terminated():
            return "stop"
        self.tokens.append(token)
        stops = self.prepared.request.stop
        if stops and first_stop(self.detokenize(self.tokens), stops) is not None:
            return "stop_string"
        if len(self.tokens) >= self.prepared.max_tokens or context_full:
            return "length"
        return None

    def completion(self, reason: str, *, prompt_tokens: int, started: float) -> Completion:
        """The finished row as a :class:`Completion`: the text cut at its stop string, the end token counted
        (it was generated, though it is not text), queue and decode times (``started``: when decoding began)."""
        text = self.detokenize(self.tokens)
        if reason == "stop_string":
            text = text[: first_stop(text, self.prepared.request.stop)]
        return Completion(text=text, finish_reason=reason, prompt_tokens=prompt_tokens,
                          completion_tokens=len(self.tokens) + (1 if reason == "stop" else 0),
                          queue_ms=(started - self.prepared.submitted) * 1000,
                          generate_ms=(time.perf_counter() - started) * 1000)
