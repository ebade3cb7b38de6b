"""The embedded default, for real: SmolLM2-135M-Instruct on the transformers backend."""

import pytest

from liftinfer.bench.workload import SCHEMA
from liftinfer.errors import OutputInvalid
from tests.conftest import PERSON

pytestmark = pytest.mark.model

FUNCTION = SCHEMA  # the benchmark workload: a function signature with enums and bounded arrays


def test_generates_valid_compact_json(real_engine):
    result = real_engine.generate("Describe a person named Alice who is 30.", schema=PERSON, max_tokens=64)
    assert set(result.data) == {"name", "age"}
    assert " " not in result.text.replace(result.data["name"], "")  # compact: no free whitespace
    assert result.finish_reason == "stop"
    assert result.usage.completion_tokens > 3 and result.usage.prompt_tokens > 10
    assert result.model == "SmolLM2-135M-Instruct" and result.backend == "transformers"


def test_greedy_is_deterministic_and_seeded_sampling_reproducible(real_engine):
    a = real_engine.generate("A Python function that adds two integers.", schema=FUNCTION, max_tokens=128)
    b = real_engine.generate("A Python function that adds two integers.", schema=FUNCTION, max_tokens=128)
    assert a.text == b.text
    s1 = real_engine.generate("A person", schema=PERSON, temperature=1.0, seed=11, max_tokens=64)
    s2 = real_engine.generate("A person", schema=PERSON, temperature=1.0, seed=11, max_tokens=64)
    assert s1.text == s2.text


def test_a_batch_of_different_schemas_all_validate(real_engine):
    requests = [{"prompt": f"Describe a Python function that will {task}.", "schema": FUNCTION, "max_tokens": 128}
                for task in ("reverse a string", "check if a number is prime", "merge two lists")]
    requests += [{"prompt": "A person named Bob, 41.", "schema": PERSON, "max_tokens": 64},
                 {"messages": [{"role": "system", "content": "You answer in JSON."},
                               {"role": "user", "content": "Is water wet?"}],
                  "schema": {"type": "object", "properties": {"answer": {"type": "boolean"}},
                             "required": ["answer"]}, "max_tokens": 16}]
    results = real_engine.generate_batch(requests)
    assert all(not isinstance(r, Exception) for r in results), results
    assert [sorted(r.data) for r in results[:3]] == [["name", "params", "pure", "returns"]] * 3
    assert isinstance(results[4].data["answer"], bool)


def test_output_cut_off_at_max_tokens_is_an_error_naming_length(real_engine):
    with pytest.raises(OutputInvalid) as info:
        real_engine.generate("Describe a person.", schema=PERSON, max_tokens=3)
    assert info.value.details["finish_reason"] == "length"
    assert "max_tokens" in info.value.message


def test_stop_string_ends_generation(real_engine):
    with pytest.raises(OutputInvalid) as info:
        real_engine.generate("Describe a person.", schema=PERSON, stop=['"age"'], max_tokens=64)
    assert info.value.details["finish_reason"] == "stop_string"
    assert '"age"' not in info.value.details["text"]


def test_enum_and_bounds_are_enforced_by_the_grammar(real_engine):
    schema = {"type": "object", "properties": {
        "color": {"enum": ["red", "green", "blue"]},
        "count": {"type": "integer", "minimum": 2, "maximum": 5},
        "tags": {"type": "array", "items": {"type": "string", "maxLength": 8}, "minItems": 1, "maxItems": 2}},
        "required": ["color", "count", "tags"], "additionalProperties": False}
    result = real_engine.generate("Pick a colour, a count and some tags.", schema=schema, max_tokens=64,
                                  temperature=0.8, seed=3)
    assert result.data["color"] in ("red", "green", "blue")
    assert 2 <= result.data["count"] <= 5
    assert 1 <= len(result.data["tags"]) <= 2


def test_startup_phases_are_recorded(real_engine):
    startup = real_engine.health()["startup"]
    for phase in ("import_ms", "resolve_model_ms", "load_weights_ms", "total_ms"):
        assert startup[phase] >= 0


def test_transformers_backend_is_registered_and_available():
    from liftinfer.pluginmanager import Plugins

    backend = Plugins(entry_points=False, disabled=set()).backends()["transformers"]
    assert backend.unavailable() is None
    assert backend.load().backend_name == "transformers"


def test_a_grammar_failing_mid_decode_fails_its_request_not_the_batch(real_engine, monkeypatch):
    from liftinfer.constraints.builder import Constraint
    from liftinfer.errors import SchemaTooComplex

    class GivesUp:
        """A matcher that, like llguidance past one of its limits, gives up after a few tokens."""

        def __init__(self, inner):
            self.inner, self.steps = inner, 0

        def fill_next_token_bitmask(self, bitmask, index):
            self.steps += 1
            if self.steps > 3:
                raise SchemaTooComplex("the grammar engine gave up")
            self.inner.fill_next_token_bitmask(bitmask, index)

        def accept_token(self, token):
            return self.inner.accept_token(token)

        def is_terminated(self):
            return self.inner.is_terminated()

    original = Constraint.matcher
    doomed = {"type": "object", "properties": {"doomed": {"type": "string"}}, "required": ["doomed"]}
    monkeypatch.setattr(Constraint, "matcher", lambda self: GivesUp(original(self)) if self.schema == doomed
                        else original(self))
    results = real_engine.generate_batch([
        {"prompt": "A person named Dora, 40.", "schema": PERSON, "max_tokens": 64},
        {"prompt": "Anything.", "schema": doomed, "max_tokens": 64},
    ])
    assert set(results[0].data) == {"name", "age"}
    assert isinstance(results[1], SchemaTooComplex)


def test_a_burst_of_requests_is_decoded_as_one_wave(real_engine, monkeypatch):
    from liftinfer.backends import transformers as backend

    waves = []
    decode = backend._Scheduler._decode
    monkeypatch.setattr(backend._Scheduler, "_decode", lambda self, wave: (waves.append(len(wave)),
                                                                          decode(self, wave))[1])
    requests = [{"prompt": f"A person, number {i}.", "schema": PERSON, "max_tokens": 24} for i in range(4)]
    assert all(not isinstance(r, Exception) for r in real_engine.generate_batch(requests))
    assert waves == [4]  # each request is checked and tokenized before it is queued: the first would go alone
