"""The grammar engines liftinfer compiles with: xgrammar first, llguidance where xgrammar is not exact.

Both give matchers with one interface, so a backend decodes with either unchanged:
``fill_next_token_bitmask(bitmask, index)``, ``accept_token(token) -> bool`` and ``is_terminated()``
while decoding; ``accept_string(text) -> bool``, ``rollback(steps)`` and ``is_completed()`` for checking
text against the grammar. Both write the same bitmask: int32 words, bit ``i`` of word ``j`` allows token
``32 * j + i`` (what :func:`liftinfer.constraints.builder.allocate_bitmask` allocates).
"""

from __future__ import annotations

import json
from typing import Any, Literal

from liftinfer.constraints import locations
from liftinfer.errors import MissingDependency

COMPACT_SEPARATORS = (",", ":")
ENGINE_ORDER = ("xgrammar", "llguidance")


RefusalKind = Literal["refused", "unsatisfiable", "too_complex"]


class GrammarRefused(Exception):
    """The engine cannot compile this schema; the message is the engine's own reason.

    ``kind`` is why, as the engine that refused tells it: ``unsatisfiable`` (no value fits the schema),
    ``too_complex`` (too large or slow to compile) or ``refused`` (anything else it cannot handle).
    """

    def __init__(self, message: str, kind: RefusalKind = "refused") -> None:
        super().__init__(message)
        self.kind: RefusalKind = kind


def import_xgrammar() -> Any:
    try:
        import xgrammar
    except ImportError:
        raise MissingDependency("xgrammar", "cpu", "Grammar-constrained decoding") from None
    return xgrammar


def import_llguidance() -> Any:
    try:
        import llguidance
    except ImportError:
        raise MissingDependency("llguidance", "cpu", "The llguidance grammar engine") from None
    return llguidance


def engine_available(name: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(name) is not None


class XGrammarEngine:
    """xgrammar: masks precomputed at compile time, fast to decode; slow to compile large schemas."""

    name = "xgrammar"

    def __init__(self, tokenizer_info: Any) -> None:
        xgr = import_xgrammar()
        self._xgr = xgr
        self._compiler = xgr.GrammarCompiler(tokenizer_info, cache_enabled=False)

    def grammar_size(self, schema: Any, *, compact: bool) -> int:
        """Characters of the EBNF xgrammar makes of ``schema``: what its compile time grows with."""
        try:
            grammar = self._xgr.Grammar.from_json_schema(
                json.dumps(prepare_for_xgrammar(schema)), **_xgrammar_format(compact)
            )
        except RuntimeError as exc:
            raise _xgrammar_refusal(exc) from None
        return len(str(grammar))

    def compile(self, schema: Any, *, compact: bool) -> Any:
        try:
            return self._compiler.compile_json_schema(
                json.dumps(prepare_for_xgrammar(schema)), **_xgrammar_format(compact)
            )
        except RuntimeError as exc:
            raise _xgrammar_refusal(exc) from None

    def matcher(self, grammar: Any) -> Any:
        return self._xgr.GrammarMatcher(grammar)


def _xgrammar_format(compact: bool) -> dict[str, Any]:
    # strict_mode=False: JSON Schema's meaning (extra properties and items allowed unless the schema
    # forbids them); strict mode would refuse valid values the schema allows.
    if compact:
        return {"any_whitespace": False, "separators": COMPACT_SEPARATORS, "strict_mode": False}
    return {"any_whitespace": True, "strict_mode": False}


# How xgrammar words a schema no value satisfies ("minLength 5 is greater than maxLength 2", "Schema 'false'
# cannot accept any value", "enum must not be empty"); it raises RuntimeError for every refusal alike.
_XGRAMMAR_UNSATISFIABLE = ("cannot accept any value", " is greater than ", "must not be empty")


def _xgrammar_refusal(exc: Exception) -> GrammarRefused:
    message = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
    if message.startswith("[") and ": " in message:  # "[12:00:00] /project/cpp/x.cc:12: the reason"
        message = message.split(": ", 1)[1]
    unsatisfiable = any(words in message for words in _XGRAMMAR_UNSATISFIABLE)
    return GrammarRefused(message, "unsatisfiable" if unsatisfiable else "refused")


# xgrammar 0.2.8 writes free-form JSON (a value with no schema, an object without properties) with ", "
# and ": " whatever separators it is given: in compact mode it rejects '{"a":1,"b":2}' for {"type":
# "object"}. An explicit recursive "any JSON value" keeps its separators, so free-form values point to it.
_ANY = "__liftinfer_any_json"
_ANY_VALUE = {
    "anyOf": [
        {"type": "null"},
        {"type": "boolean"},
        {"type": "number"},
        {"type": "string"},
        {"type": "array", "items": {"$ref": f"#/$defs/{_ANY}"}},
        {"type": "object", "additionalProperties": {"$ref": f"#/$defs/{_ANY}"}},
    ]
}


def prepare_for_xgrammar(schema: Any) -> Any:
    """Make every free-form value explicit (same meaning; see ``_ANY_VALUE``)."""
    used = False

    def any_ref() -> dict[str, Any]:
        nonlocal used
        used = True
        return {"$ref": f"#/$defs/{_ANY}"}

    def walk(node: Any) -> Any:
        if node is True or node == {}:
            return any_ref()
        if not isinstance(node, dict):
            return node
        out = locations.map_subschemas(node, lambda sub, _key: walk(sub))
        types = node.get("type")
        typeset = {types} if isinstance(types, str) else set(types) if isinstance(types, list) else set()
        if "object" in typeset and "additionalProperties" not in node and not node.get("patternProperties"):
            out["additionalProperties"] = any_ref()
        if "array" in typeset and "items" not in node:
            out["items"] = any_ref()
        if not typeset and not set(node) - {"$defs"}:
            return any_ref()
        return out

    prepared = walk(schema)
    if used and isinstance(prepared, dict):
        prepared["$defs"] = {**prepared.get("$defs", {}), _ANY: _ANY_VALUE}
    return prepared


class LLGuidanceEngine:
    """llguidance: compiles lazily (milliseconds for any size), masks computed per token."""

    name = "llguidance"

    def __init__(self, tokenizer_info: Any) -> None:
        llg = import_llguidance()
        self._llg = llg
        self.tokenizer = _llguidance_tokenizer(llg, tokenizer_info)

    def compile(self, schema: Any, *, compact: bool) -> Any:
        options: dict[str, Any] = {"whitespace_flexible": not compact}
        if compact:
            options.update(item_separator=COMPACT_SEPARATORS[0], key_separator=COMPACT_SEPARATORS[1])
        try:
            grammar = self._llg.LLMatcher.grammar_from_json_schema(schema, overrides=options)
        except ValueError as exc:
            raise _llguidance_refusal(str(exc)) from None
        error = self._llg.LLMatcher.validate_grammar(grammar, self.tokenizer)
        if error:
            raise _llguidance_refusal(error)
        compiled = LLGuidanceGrammar(grammar, self.tokenizer, len(grammar))
        # llguidance compiles lazily: some limits (parser rows, lexer cost) only show at the first mask
        trial = self._llg.LLMatcher(self.tokenizer, grammar, log_level=0)
        trial.compute_bitmask()
        if trial.is_error():
            raise GrammarRefused("too complex for the grammar engine: "
                                 + _llguidance_message(trial.get_error()), "too_complex")
        return compiled

    def matcher(self, grammar: LLGuidanceGrammar) -> LLGuidanceMatcher:
        matcher = self._llg.LLMatcher(grammar.tokenizer, grammar.grammar_text, log_level=0)
        return LLGuidanceMatcher(matcher, grammar.tokenizer)


def _llguidance_message(error: str) -> str:
    lines = [line.strip() for line in error.strip().splitlines() if line.strip()]
    reasons = [line for line in lines if not line.startswith("while processing")]
    return (reasons or lines or ["llguidance refused the grammar"])[0]


def _llguidance_refusal(error: str) -> GrammarRefused:
    # llguidance starts its reason with "Unsatisfiable schema: " where no value fits
    kind: RefusalKind = "unsatisfiable" if "Unsatisfiable schema" in error else "refused"
    return GrammarRefused(_llguidance_message(error), kind)


class LLGuidanceGrammar:
    """A checked llguidance grammar, bound to the tokenizer it was checked with."""

    def __init__(self, grammar_text: str, tokenizer: Any, size: int) -> None:
        self.grammar_text = grammar_text
        self.tokenizer = tokenizer
        self.size = size

    @property
    def memory_size_bytes(self) -> int:
        return self.size


class LLGuidanceMatcher:
    """An llguidance matcher with xgrammar's GrammarMatcher interface (the part liftinfer uses)."""

    def __init__(self, matcher: Any, tokenizer: Any) -> None:
        self._matcher = matcher
        self._tokenizer = tokenizer
        self._stops = set(tokenizer.eos_tokens)
        self._steps: list[int] = []  # tokens taken by each accept_token / accept_string, for rollback
        self._terminated = False

    def fill_next_token_bitmask(self, bitmask: Any, index: int = 0) -> None:
        from llguidance.torch import fill_next_token_bitmask

        if self._terminated:  # like xgrammar: nothing is allowed after the stop token
            bitmask[index].zero_()
            return
        fill_next_token_bitmask(self._matcher, bitmask, index)
        if self._matcher.is_error():  # a limit hit mid-way: say so, rather than decode under an empty mask
            from liftinfer.errors import SchemaTooComplex

            raise SchemaTooComplex("the grammar engine gave up on this schema while decoding: "
                                   + _llguidance_message(self._matcher.get_error()))

    def accept_token(self, token_id: int) -> bool:
        if self._terminated or not self._matcher.consume_token(token_id):
            return False
        self._steps.append(1)
        self._terminated = token_id in self._stops
        return True

    def is_terminated(self) -> bool:
        return self._terminated

    def accept_string(self, text: str) -> bool:
        tokens = self._tokenizer.greedy_tokenize(text)
        if self._terminated or self._matcher.validate_tokens(tokens) != len(tokens):
            return False
        if tokens and not self._matcher.consume_tokens(tokens):  # pragma: no cover - validated above
            return False
        self._steps.append(len(tokens))
        return True

    def rollback(self, num_steps: int = 1) -> None:
        tokens = sum(self._steps[-num_steps:]) if num_steps else 0
        del self._steps[len(self._steps) - num_steps :]
        self._terminated = False
        if tokens:
            self._matcher.rollback(tokens)

    def is_completed(self) -> bool:
        return bool(self._matcher.is_accepting())

    def reset(self) -> None:
        self._matcher.reset()
        self._steps.clear()
        self._terminated = False


def _llguidance_tokenizer(llg: Any, tokenizer_info: Any) -> Any:
    """An llguidance tokenizer from an xgrammar TokenizerInfo: the same tokens, so the same bitmask."""
    source = _TokenizerInfoVocabulary(tokenizer_info)
    return llg.LLTokenizer(
        llg.TokenizerWrapper(source),
        n_vocab=tokenizer_info.vocab_size,
        eos_token=list(tokenizer_info.stop_token_ids),
    )


class _TokenizerInfoVocabulary:
    """What llguidance's TokenizerWrapper reads: token bytes, special ids and a tokenize function.

    llguidance tokenizes the bytes a grammar forces; greedy longest match gives the same masks as the
    model's own tokenizer (checked against SmolLM2's in tests/engine/test_grammars.py).
    """

    def __init__(self, info: Any) -> None:
        self.tokens = [bytes(t) for t in info.decoded_vocab]
        stops = list(info.stop_token_ids)
        self.eos_token_id = stops[0] if stops else None
        self.bos_token_id = None
        self.special_token_ids = sorted(set(info.special_token_ids) | set(stops))
        special = set(self.special_token_ids)
        self._index = {t: i for i, t in enumerate(self.tokens) if t and i not in special}
        self._longest = max((len(t) for t in self._index), default=1)

    def __call__(self, text: bytes | str) -> list[int]:
        data = text.encode() if isinstance(text, str) else text
        out: list[int] = []
        i = 0
        while i < len(data):
            for n in range(min(self._longest, len(data) - i), 0, -1):
                token = self._index.get(data[i : i + n])
                if token is not None:
                    out.append(token)
                    i += n
                    break
            else:
                raise ValueError(f"byte {data[i]:#x} has no token in this vocabulary")
        return out


def make_engines(tokenizer_info: Any) -> dict[str, Any]:
    """The engines that can compile for ``tokenizer_info`` (xgrammar always; llguidance where installed)."""
    engines: dict[str, Any] = {"xgrammar": XGrammarEngine(tokenizer_info)}
    if engine_available("llguidance"):
        engines["llguidance"] = LLGuidanceEngine(tokenizer_info)
    return engines
