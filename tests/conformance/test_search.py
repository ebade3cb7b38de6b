import pytest

from liftinfer.conformance.search import grammar_accepts, key_ranks, scalar_forms
from liftinfer.constraints.builder import ConstraintBuilder

pytestmark = pytest.mark.grammar


@pytest.fixture(scope="module")
def builder():
    xgr = pytest.importorskip("xgrammar")
    vocab = xgr.TokenizerInfo([bytes([b]) for b in range(256)] + [b"</s>"], stop_token_ids=[256])
    return ConstraintBuilder(vocab, compile_timeout_s=120)  # CI boxes are small and shared


def check(builder, schema, value):
    constraint = builder.build(schema, strict=False)
    return grammar_accepts(constraint.matcher(), value, key_ranks(schema))


def test_keys_in_another_order_than_the_grammar_emits_still_count(builder):
    schema = {"type": "object", "properties": {"a": {"type": "integer"}, "b": {"type": "string"}}}
    verdict = check(builder, schema, {"b": "x", "a": 1})
    assert verdict.accepted and verdict.text == '{"a":1,"b":"x"}'


def test_an_integral_float_is_written_as_the_integer_it_equals(builder):
    assert check(builder, {"type": "integer"}, 3.0).text == "3"
    assert not check(builder, {"type": "integer"}, 3.5).accepted


def test_strings_are_raw_utf8_with_json_escapes_only(builder):
    assert check(builder, {"type": "string", "maxLength": 3}, "é\n").text == '"é\\n"'


def test_invalid_values_are_rejected_whatever_the_order(builder):
    schema = {
        "type": "object",
        "properties": {"a": {"type": "integer"}},
        "required": ["a"],
        "additionalProperties": False,
    }
    verdict = check(builder, schema, {"a": "1"})
    assert not verdict.accepted and not verdict.exhausted


def test_the_search_gives_up_honestly_at_its_budget(builder):
    schema = {
        "type": "object",
        "properties": {k: {"type": "integer"} for k in "abcdefgh"},
        "additionalProperties": False,
    }
    value = {**{k: 1 for k in "abcdefg"}, "h": "not an integer"}
    constraint = builder.build(schema)
    verdict = grammar_accepts(constraint.matcher(), value, {}, budget=50)
    assert not verdict.accepted and verdict.exhausted


def test_number_spellings():
    assert scalar_forms(1e100) == ["1e+100", "1e100", "1" + "0" * 100]
    assert scalar_forms(1e-05) == ["1e-05", "0.00001"]
    assert scalar_forms(2.0) == ["2", "2.0"]
    assert scalar_forms(True) == ["true"]
