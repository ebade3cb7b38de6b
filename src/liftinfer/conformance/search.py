"""Does a grammar accept a JSON value? Some serialisation of it, the way liftinfer would generate it.

liftinfer generates compact JSON (``json.dumps(x, separators=(",", ":"), ensure_ascii=False)``), but a
value has more than one compact spelling, and the grammar engines write some things their own way:

- object keys in any order: engines emit properties in the schema's order, test instances come in any
  order, and JSON objects are unordered;
- numbers in any equal spelling: ``1.0`` as ``1`` (JSON Schema counts it an integer), ``1e+100`` as
  ``1e100``, ``1e-05`` as ``0.00001``.

A value counts as accepted when the matcher accepts *some* such serialisation completely: a value the
grammar could generate. The search backtracks over key orders (schema order first) and number
spellings through the matcher's ``accept_string``/``rollback``; strings have one spelling (raw UTF-8,
JSON escapes only where JSON needs them). The search is bounded: past ``budget`` dead ends the value
counts as rejected and the result says the search ran out (so the count is honest about it).
"""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from liftinfer.constraints.schema import iter_subschemas

DEFAULT_BUDGET = 4_000


class _Exhausted(Exception):
    pass


@dataclass
class Verdict:
    accepted: bool
    text: str | None = None  # the accepted serialisation
    exhausted: bool = False  # the search stopped at its budget; ``accepted`` is then False


def key_ranks(schema: Any) -> dict[str, int]:
    """Each property name's first position among the schema's ``properties``: the order engines emit."""
    ranks: dict[str, int] = {}
    for sub in iter_subschemas(schema):
        props = sub.schema.get("properties")
        if isinstance(props, dict):
            for name in props:
                ranks.setdefault(name, len(ranks))
    return ranks


def grammar_accepts(
    matcher: Any, value: Any, ranks: dict[str, int] | None = None, budget: int = DEFAULT_BUDGET
) -> Verdict:
    """Whether ``matcher`` (fresh) accepts some compact serialisation of ``value`` completely.

    Key orders are tried the instance's own way first, then the schema's (half the budget each): test
    instances mostly come in one of the two, and each search explores the other orders from there.
    """
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, 200_000))
    exhausted = False
    try:
        for order in ({}, ranks or {}):
            feed = _Feed(matcher, order, budget // 2)
            try:
                if feed.value(value, matcher.is_completed):
                    return Verdict(True, "".join(feed.pieces))
            except _Exhausted:
                exhausted = True
            matcher.reset()
            if not ranks:
                break
        return Verdict(False, exhausted=exhausted)
    finally:
        sys.setrecursionlimit(limit)


class _Feed:
    """Continuation-passing search: each step gets what must follow it, and undoes itself if that fails."""

    def __init__(self, matcher: Any, ranks: dict[str, int], budget: int) -> None:
        self.matcher = matcher
        self.ranks = ranks
        self.budget = budget
        self.pieces: list[str] = []

    def piece(self, text: str, then: Callable[[], bool]) -> bool:
        if self.matcher.accept_string(text):
            self.pieces.append(text)
            if then():
                return True
            self.matcher.rollback(1)
            self.pieces.pop()
        self.budget -= 1  # only dead ends count: a large value that fits at once never runs out
        if self.budget < 0:
            raise _Exhausted
        return False

    def value(self, value: Any, then: Callable[[], bool]) -> bool:
        if isinstance(value, dict):
            return self.object(value, then)
        if isinstance(value, list):
            return self.piece("[", lambda: self.items(value, 0, then))
        for text in scalar_forms(value):  # noqa: SIM110 - any() over a generator would nest C frames
            if self.piece(text, then):
                return True
        return False

    def items(self, items: list[Any], i: int, then: Callable[[], bool]) -> bool:
        if i == len(items):
            return self.piece("]", then)
        if i == 0:
            return self.value(items[0], lambda: self.items(items, 1, then))
        return self.piece(",", lambda: self.value(items[i], lambda: self.items(items, i + 1, then)))

    def object(self, obj: dict[str, Any], then: Callable[[], bool]) -> bool:
        order = {k: i for i, k in enumerate(obj)}
        keys = tuple(sorted(obj, key=lambda k: (self.ranks.get(k, math.inf), order[k])))
        return self.piece("{", lambda: self.members(obj, keys, True, then))

    def members(
        self, obj: dict[str, Any], remaining: tuple[str, ...], first: bool, then: Callable[[], bool]
    ) -> bool:
        if not remaining:
            return self.piece("}", then)
        for key in remaining:
            prefix = ("" if first else ",") + _string(key) + ":"
            others = tuple(k for k in remaining if k != key)

            def member(key: str = key, others: tuple[str, ...] = others) -> bool:
                return self.value(obj[key], lambda: self.members(obj, others, False, then))

            if self.piece(prefix, member):
                return True
        return False


def scalar_forms(value: Any) -> list[str]:
    """The compact spellings of a scalar, the usual one first."""
    if value is None or isinstance(value, bool):
        return [json.dumps(value)]
    if isinstance(value, int):
        return [str(value)]
    if isinstance(value, float):
        return _number_forms(value)
    if isinstance(value, str):
        return [_string(value)]
    raise TypeError(f"not a JSON value: {type(value).__name__}")


def _number_forms(value: float) -> list[str]:
    text = json.dumps(value)
    forms = []
    if value.is_integer() and abs(value) < 1e21:
        forms.append(str(int(value)))
    forms.append(text)
    if "e" in text:
        forms.append(text.replace("e+", "e"))
        plain = format(Decimal(text), "f")
        forms.append(plain)
    return list(dict.fromkeys(forms))


def _string(text: str) -> str:
    raw = json.dumps(text, ensure_ascii=False)
    try:
        raw.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate: only its escape is valid UTF-8
        return json.dumps(text)
    return raw
