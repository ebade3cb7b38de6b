import pytest

from liftinfer.constraints.builder import ConstraintBuilder, allocate_bitmask
from liftinfer.engine.base import PreparedRequest
from liftinfer.engine.decode import DecodeRow, first_stop
from liftinfer.engine.request import GenerateRequest
from liftinfer.errors import BackendError

VOCAB = [chr(c) for c in range(32, 127)] + ["true", "false", "</s>"]
EOS = len(VOCAB) - 1


def token(piece: str) -> int:
    return VOCAB.index(piece)


def detokenize(tokens: list[int]) -> str:
    return "".join(VOCAB[t] for t in tokens if t != EOS)


@pytest.fixture(scope="module")
def builder():
    xgr = pytest.importorskip("xgrammar")
    return ConstraintBuilder(xgr.TokenizerInfo(VOCAB, stop_token_ids=[EOS]))


def prepared(constraint, max_tokens=8, stop=None) -> PreparedRequest:
    request = GenerateRequest(prompt="p", schema={"type": "boolean"}, stop=stop)
    return PreparedRequest(request, constraint, max_tokens, 0.0, None)


def allowed(row: DecodeRow) -> set[int]:
    bitmask = allocate_bitmask(1, len(VOCAB))
    row.fill(bitmask, 0)
    words = bitmask[0].tolist()
    return {i for i in range(len(VOCAB)) if (words[i // 32] >> (i % 32)) & 1}


@pytest.mark.grammar
def test_a_constrained_row_is_masked_and_ends_where_its_grammar_does(builder):
    row = DecodeRow(prepared(builder.build({"type": "boolean"})), detokenize)
    assert token("true") in allowed(row) and token("x") not in allowed(row)
    assert row.advance(token("true")) is None
    assert allowed(row) == {EOS}
    assert row.advance(EOS) == "stop"
    done = row.completion("stop", prompt_tokens=3, started=0.0)
    assert done.text == "true" and done.completion_tokens == 2  # the end token is counted


@pytest.mark.grammar
def test_a_token_the_grammar_refuses_is_an_error_for_this_row(builder):
    row = DecodeRow(prepared(builder.build({"type": "boolean"})), detokenize)
    with pytest.raises(BackendError, match="refused token"):
        row.advance(token("x"))


def test_an_unconstrained_row_ends_at_eos_a_stop_string_or_max_tokens():
    row = DecodeRow(prepared(None, max_tokens=3), detokenize, eos_ids={EOS})
    bitmask = allocate_bitmask(1, len(VOCAB))
    row.fill(bitmask, 0)
    assert all(word == -1 for word in bitmask[0].tolist())
    assert row.advance(token("a")) is None
    assert row.advance(EOS) == "stop"
    stopping = DecodeRow(prepared(None, stop=["b!"]), detokenize, eos_ids={EOS})
    assert [stopping.advance(token(c)) for c in "ab!"] == [None, None, "stop_string"]
    assert stopping.completion("stop_string", prompt_tokens=1, started=0.0).text == "a"
    assert [DecodeRow(prepared(None, max_tokens=1), detokenize).advance(token("a"))] == ["length"]
    assert DecodeRow(prepared(None), detokenize).advance(token("a"), context_full=True) == "length"
    assert first_stop("xaby", ["y", "ab"]) == 1 and first_stop("x", None) is None
