import json
import threading
import time

import pytest

from liftinfer.constraints.builder import ConstraintBuilder
from liftinfer.errors import (
    OutputInvalid,
    SchemaError,
    SchemaTooComplex,
    UnsatisfiableSchema,
    UnsupportedSchema,
)
from tests.conftest import PERSON


def test_builder_without_tokenizer_checks_and_validates():
    builder = ConstraintBuilder(None)
    constraint = builder.build(PERSON)
    assert constraint.grammar is None
    assert constraint.verify('{"name":"Ann","age":3}', "stop") == {"name": "Ann", "age": 3}
    with pytest.raises(OutputInvalid, match="/age"):
        constraint.verify('{"name":"Ann","age":-3}', "stop")
    with pytest.raises(OutputInvalid, match="cut off at max_tokens") as info:
        constraint.verify('{"name":"An', "length")
    assert info.value.details["finish_reason"] == "length"


def test_second_build_is_a_cache_hit_well_under_a_millisecond():
    builder = ConstraintBuilder(None)
    first = builder.build(PERSON)
    assert not first.cache_hit
    start = time.perf_counter()
    for _ in range(100):
        again = builder.build(json.loads(json.dumps(PERSON)))
    per_hit_ms = (time.perf_counter() - start) * 1000 / 100
    assert again.cache_hit
    assert per_hit_ms < 1.0


def test_cached_answers_hits_only_and_counts_each_miss_once():
    builder = ConstraintBuilder(None)
    assert builder.cached(PERSON) is None
    builder.build(PERSON)
    hit = builder.cached(json.loads(json.dumps(PERSON)))
    assert hit is not None and hit.cache_hit and hit.key == builder.key(PERSON)
    assert builder.cache.stats()["misses"] == 1
    relaxed_only = {"type": "array", "items": {"type": "integer"}, "uniqueItems": True}
    builder.build(relaxed_only, strict=False)
    with pytest.raises(UnsupportedSchema, match="uniqueItems"):  # a hit is still refused under strict
        builder.cached(relaxed_only, strict=True)


def test_strict_refuses_keywords_no_grammar_enforces_and_relaxed_reports_them():
    builder = ConstraintBuilder(None)
    schema = {"type": "array", "items": {"type": "integer"}, "uniqueItems": True}
    with pytest.raises(UnsupportedSchema, match="uniqueItems"):
        builder.build(schema, strict=True)
    relaxed = builder.build(schema, strict=False)
    assert relaxed.enforcement["validation_only"] == ["uniqueItems"]
    with pytest.raises(OutputInvalid):
        relaxed.verify("[1,1]", "stop")


def test_format_is_checked_by_validation():
    builder = ConstraintBuilder(None)
    constraint = builder.build({"type": "string", "format": "date"})
    assert constraint.verify('"2024-02-29"', "stop") == "2024-02-29"
    with pytest.raises(OutputInvalid):
        constraint.verify('"2023-02-30"', "stop")


@pytest.fixture(scope="module")
def tokenizer_info():
    xgr = pytest.importorskip("xgrammar")
    vocab = [chr(c) for c in range(32, 127)] + ['{"', '":', '",', "true", "false", "null", "</s>"]
    return xgr.TokenizerInfo(vocab, stop_token_ids=[len(vocab) - 1])


def accepts(constraint, text):
    matcher = constraint.matcher()
    return matcher.accept_string(text) and matcher.is_completed()


@pytest.mark.grammar
def test_compiled_grammar_is_compact_and_enforces_the_schema(tokenizer_info):
    builder = ConstraintBuilder(tokenizer_info, compact=True)
    constraint = builder.build(PERSON)
    assert accepts(constraint, '{"name":"Ann","age":3}')
    assert not accepts(constraint, '{"name": "Ann", "age": 3}')  # no free whitespace
    assert not accepts(constraint, '{"name":"Ann"}')
    assert not accepts(constraint, '{"name":"Ann","age":3,"x":1}')


@pytest.mark.grammar
def test_any_whitespace_when_compact_is_off(tokenizer_info):
    constraint = ConstraintBuilder(tokenizer_info, compact=False).build(PERSON)
    assert accepts(constraint, '{"name": "Ann", "age": 3}')


@pytest.mark.grammar
def test_concurrent_builds_of_one_schema_compile_once(tokenizer_info):
    builder = ConstraintBuilder(tokenizer_info)
    calls = []
    original = builder._compile_first
    builder._compile_first = lambda *args: (calls.append(1), time.sleep(0.2), original(*args))[2]
    threads = [threading.Thread(target=builder.build, args=(PERSON,)) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == 1
    assert builder.cache.stats()["entries"] == 1


@pytest.mark.grammar
def test_compilation_over_the_time_limit_is_refused_and_remembered(tokenizer_info):
    builder = ConstraintBuilder(tokenizer_info, compile_timeout_s=0.1)
    release = threading.Event()
    builder._compile_first = lambda *args: release.wait(5)
    start = time.perf_counter()
    with pytest.raises(SchemaTooComplex, match=r"0\.1 s limit"):
        builder.build(PERSON)
    assert time.perf_counter() - start < 1.0
    with pytest.raises(SchemaTooComplex):  # remembered: no second wait
        builder.build(PERSON)
    release.set()


@pytest.mark.grammar
@pytest.mark.parametrize("schema, error", [
    ({"type": "integer", "minimum": 5, "maximum": 1}, UnsatisfiableSchema),
    ({"type": "integr"}, SchemaError),
])
def test_bad_schemas_never_reach_a_grammar(tokenizer_info, schema, error):
    with pytest.raises(error):
        ConstraintBuilder(tokenizer_info).build(schema)


def test_strict_refusal_names_the_keyword_and_where_it_is():
    schema = {"type": "object", "properties": {"tags": {"type": "array", "uniqueItems": True}}}
    with pytest.raises(UnsupportedSchema) as info:
        ConstraintBuilder(None).build(schema)
    assert info.value.status == 422
    assert "'uniqueItems'" in info.value.message and "/properties/tags/uniqueItems" in info.value.message


def test_enforcement_names_the_engine_even_without_a_tokenizer():
    builder = ConstraintBuilder(None)
    plain = builder.build({"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"]})
    assert plain.engine == "xgrammar" and plain.enforcement["engine"] == "xgrammar"
    # xgrammar lets a pattern's neighbours go; llguidance enforces them: the backend is told to use it
    patterned = builder.build({"type": "string", "pattern": "^[a-z]+$", "maxLength": 5})
    assert patterned.engine == "llguidance" and patterned.enforcement["validation_only"] == []
    assert patterned.grammar_schema == {"type": "string", "pattern": "^[a-z]+$", "maxLength": 5}


def test_older_drafts_are_validated_as_their_draft_with_every_known_format():
    schema = {"$schema": "http://json-schema.org/draft-04/schema#", "type": "object",
              "properties": {"born": {"type": "string", "format": "date"},
                             "n": {"type": "integer", "maximum": 3, "exclusiveMaximum": True}}}
    constraint = ConstraintBuilder(None).build(schema)
    assert constraint.verify('{"born":"2024-02-29","n":2}', "stop")["n"] == 2
    with pytest.raises(OutputInvalid):
        constraint.verify('{"born":"2023-02-29"}', "stop")  # no such day: draft-04 never named "date"
    with pytest.raises(OutputInvalid):
        constraint.verify('{"n":3}', "stop")


def test_patterns_validation_cannot_run_are_refused():
    with pytest.raises(SchemaError, match="validation cannot check"):
        ConstraintBuilder(None).build({"type": "string", "pattern": "\\p{Letter}+"})
