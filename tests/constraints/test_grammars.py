"""The two grammar engines behind one matcher interface, on the bitmask layout backends use."""

import json

import pytest

from liftinfer.constraints.builder import ConstraintBuilder, allocate_bitmask
from liftinfer.constraints.grammars import GrammarRefused, LLGuidanceEngine, XGrammarEngine, prepare_for_xgrammar

pytestmark = pytest.mark.grammar


@pytest.fixture(scope="module")
def byte_vocabulary():
    xgr = pytest.importorskip("xgrammar")
    pytest.importorskip("llguidance")
    return xgr.TokenizerInfo([bytes([b]) for b in range(256)] + [b"</s>"], stop_token_ids=[256])


def accepts(constraint, text):
    matcher = constraint.matcher()
    return matcher.accept_string(text) and matcher.is_completed()


def allowed(bitmask, row, vocab):
    import torch

    bits = (bitmask[row].unsqueeze(1).to(torch.int64) >> torch.arange(32)) & 1
    return set(torch.nonzero(bits.flatten()[:vocab]).flatten().tolist())


def test_free_form_values_keep_compact_separators_in_xgrammar(byte_vocabulary):
    constraint = ConstraintBuilder(byte_vocabulary, compile_timeout_s=120).build(
        {"type": "object", "properties": {"x": {"type": "object"}}}
    )
    assert constraint.engine == "xgrammar"
    assert accepts(constraint, '{"x":{"a":1,"b":[1,{"c":null}]}}')
    assert not accepts(constraint, '{"x":{"a":1, "b":2}}')


def test_a_schema_xgrammar_would_enforce_wrongly_goes_to_llguidance(byte_vocabulary):
    # xgrammar matches patterns whole and lets "a01Z" through ^a0(?:\.[0-9]+)?Z$
    schema = {"type": "string", "pattern": r"^a0(?:\.[0-9]+)?Z$"}
    constraint = ConstraintBuilder(byte_vocabulary, compile_timeout_s=120).build(schema)
    assert constraint.engine == "llguidance" and constraint.enforcement["validation_only"] == []
    assert accepts(constraint, '"a0.5Z"') and not accepts(constraint, '"a01Z"')


def test_llguidance_matcher_decodes_like_an_xgrammar_one(byte_vocabulary):
    schema = {
        "type": "object",
        "properties": {"n": {"type": "integer", "minimum": 10}},
        "required": ["n"],
        "additionalProperties": False,
    }
    builder = ConstraintBuilder(byte_vocabulary, compile_timeout_s=120)
    xgrammar_side = builder.build(schema)
    llguidance_side = ConstraintBuilder(
        byte_vocabulary, compile_timeout_s=120, engines=("llguidance",)
    ).build(schema)
    assert (xgrammar_side.engine, llguidance_side.engine) == ("xgrammar", "llguidance")
    matchers = [xgrammar_side.matcher(), llguidance_side.matcher()]
    bitmask = allocate_bitmask(2, 257)
    for byte in b'{"n":12}':
        for row, matcher in enumerate(matchers):
            matcher.fill_next_token_bitmask(bitmask, row)
        assert allowed(bitmask, 0, 257) == allowed(bitmask, 1, 257)
        assert all(m.accept_token(byte) for m in matchers)
    for row, matcher in enumerate(matchers):
        matcher.fill_next_token_bitmask(bitmask, row)
        assert allowed(bitmask, row, 257) == {256}  # only the stop token is left
        assert matcher.accept_token(256) and matcher.is_terminated()


def test_llguidance_matcher_rolls_back_what_it_accepted(byte_vocabulary):
    constraint = ConstraintBuilder(byte_vocabulary, compile_timeout_s=120, engines=("llguidance",)).build(
        {"type": "array"}
    )
    matcher = constraint.matcher()
    assert matcher.accept_string("[1,")
    assert not matcher.accept_string("]")
    matcher.rollback(1)
    assert matcher.accept_string("[]") and matcher.is_completed()


def test_prepare_for_xgrammar_only_spells_out_free_form_values():
    schema = {
        "type": "object",
        "properties": {"a": {}, "b": {"type": "array"}},
        "additionalProperties": False,
    }
    prepared = prepare_for_xgrammar(schema)
    any_ref = {"$ref": "#/$defs/__liftinfer_any_json"}
    assert prepared["properties"] == {"a": any_ref, "b": {"type": "array", "items": any_ref}}
    assert prepared["additionalProperties"] is False
    assert json.loads(json.dumps(prepared))["$defs"]["__liftinfer_any_json"]["anyOf"][0] == {"type": "null"}


@pytest.mark.model
def test_llguidance_masks_match_with_the_real_tokenizer(model_cache_dir):
    """llguidance's tokenizer is made from xgrammar's TokenizerInfo: the masks must not change for it."""
    import llguidance
    import llguidance.hf
    import transformers
    import xgrammar as xgr

    from liftinfer.engine.cache import CacheRoot
    from liftinfer.sources import ensure_hf_dir, resolve_model
    from liftinfer.sources.packaged import PackagedSource

    cache = CacheRoot(model_cache_dir)
    path = ensure_hf_dir(resolve_model("smollm2", cache, [PackagedSource()]), cache)
    tokenizer = transformers.AutoTokenizer.from_pretrained(str(path))
    info = xgr.TokenizerInfo.from_huggingface(tokenizer, vocab_size=49152)
    schema = {
        "type": "object",
        "properties": {
            "name": {"enum": ["alpha", "beta"]},
            "tags": {"type": "array", "items": {"type": "string"}},
        },
        "required": ["name", "tags"],
    }
    builder = ConstraintBuilder(info, engines=("llguidance",), closed_objects=False, compile_timeout_s=120)
    ours = builder.build(schema).matcher()
    grammar = llguidance.LLMatcher.grammar_from_json_schema(
        schema, overrides={"whitespace_flexible": False, "item_separator": ",", "key_separator": ":"}
    )
    reference = llguidance.LLMatcher(llguidance.hf.from_tokenizer(tokenizer, n_vocab=49152), grammar)
    bitmask = allocate_bitmask(2, 49152)
    from llguidance.torch import fill_next_token_bitmask

    # xgrammar's TokenizerInfo marks none of SmolLM2's special tokens (<|im_start|>, <file_sep>...) as
    # special, so inside strings both xgrammar and llguidance-from-TokenizerInfo treat them as text
    special = {i for i, t in tokenizer.added_tokens_decoder.items() if t.special} - {tokenizer.eos_token_id}
    for token in tokenizer('{"name":"beta","tags":["x","y"]}')["input_ids"]:
        ours.fill_next_token_bitmask(bitmask, 0)
        fill_next_token_bitmask(reference, bitmask, 1)
        assert allowed(bitmask, 0, 49152) - special == allowed(bitmask, 1, 49152) - special
        assert ours.accept_token(token) and reference.consume_token(token)


@pytest.mark.parametrize("engine", [XGrammarEngine, LLGuidanceEngine])
@pytest.mark.parametrize("schema, kind", [
    ({"type": "string", "minLength": 5, "maxLength": 2}, "unsatisfiable"),
    ({"type": "array", "prefixItems": [{"type": "integer"}], "items": False, "minItems": 2}, "unsatisfiable"),
    ({"type": "string", "pattern": "[", "maxLength": 3}, "refused"),
])
def test_each_engine_says_why_it_refused(byte_vocabulary, engine, schema, kind):
    with pytest.raises(GrammarRefused) as refused:
        engine(byte_vocabulary).compile(schema, compact=True)
    assert refused.value.kind == kind
    assert str(refused.value) and "\n" not in str(refused.value)  # the reason, on one line
