"""Property-based fuzzing over loopback: the HTTP API from its own OpenAPI description (schemathesis), and
JSON Schemas (hypothesis). Whatever arrives: no 5xx, no hang, every error in the one shape, every 200
validates against its schema, and a good request succeeds afterwards. Bounded in examples and time."""

import json
import os

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from jsonschema.validators import validator_for
from schemathesis import GenerationMode

from tests.conftest import PERSON
from tests.server.support import assert_error, assert_still_serving, grammar_engine, serving, serving_shared

# LIFTINFER_FUZZ_EXAMPLES raises the budget for a longer run (the figures in docs/reliability.md).
EXAMPLES = int(os.environ.get("LIFTINFER_FUZZ_EXAMPLES", "60"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, database=None,
                suppress_health_check=list(HealthCheck))
REQUEST_TIMEOUT_S = 30


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    engine = grammar_engine(tmp_path_factory.mktemp("cache"), max_tokens_limit=256)
    with serving(engine) as running:
        yield running


@pytest.fixture(scope="module")
def client(server):
    with httpx.Client(base_url=server.url, timeout=REQUEST_TIMEOUT_S) as http:
        yield http
        assert_still_serving(http)


@pytest.fixture(scope="module")
def api(client):
    return schemathesis.openapi.from_dict(client.get("/openapi.json").json())


def check_answer(response, schema=None):
    """No 5xx; an error has the one shape; a result validates against the schema it was asked for."""
    event(f"HTTP {response.status_code}")
    assert response.status_code < 500, (response.status_code, response.text[:500])
    if response.status_code >= 400:
        assert_error(response, response.status_code)
    elif schema is not None:
        data = response.json()["data"]
        validator = validator_for(schema)(schema)
        assert not list(validator.iter_errors(data)), (schema, data)


@pytest.mark.grammar
@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
@FUZZ
@given(data=st.data())
def test_the_api_from_its_own_openapi(api, server, mode, data):
    case = data.draw(api.as_strategy(mode))
    response = case.call(base_url=server.url, timeout=REQUEST_TIMEOUT_S)
    event(f"{case.method} {case.path} HTTP {response.status_code}")
    assert response.status_code < 500, (case.method, case.path, case.body, response.text[:500])
    if response.status_code >= 400:
        assert set(response.json()["error"]) == {"type", "message", "field", "details"}


# ---- JSON Schemas ---------------------------------------------------------------------------------

NAMES = st.sampled_from(["a", "b", "name", "x y", "$ref", "", "é", "0"])
REFS = st.sampled_from(["#", "#/properties/a", "#/$defs/d", "#/$defs/missing", "#/items", "urn:other#",
                        "#/properties/a/items", "#x", "http://example.com/s.json"])
PATTERNS = st.sampled_from(["^[a-z]+$", "(", "^(a+)+$", "\\d{2,4}", "[", "a{2,1}", ".*"])
SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-(10**20), 10**20),
                    st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=8))
TYPES = st.sampled_from(["object", "array", "string", "integer", "number", "boolean", "null", "strin"])


def keywords(sub):
    """Keyword/value pairs: mostly sensible, sometimes wrong in type or range."""
    bound = st.one_of(st.integers(-3, 40), st.floats(-5, 5, allow_nan=False), st.just("3"))
    return st.one_of(
        st.tuples(st.just("type"), st.one_of(TYPES, st.lists(TYPES, max_size=3), st.just(5))),
        st.tuples(st.just("properties"), st.dictionaries(NAMES, sub, max_size=4)),
        st.tuples(st.just("required"), st.lists(NAMES, max_size=3)),
        st.tuples(st.just("additionalProperties"), st.one_of(st.booleans(), sub)),
        st.tuples(st.just("items"), st.one_of(sub, st.booleans())),
        st.tuples(st.just("prefixItems"), st.lists(sub, max_size=3)),
        st.tuples(st.sampled_from(["anyOf", "oneOf", "allOf"]), st.lists(sub, max_size=3)),
        st.tuples(st.just("not"), sub),
        st.tuples(st.just("$ref"), REFS),
        st.tuples(st.just("$defs"), st.dictionaries(st.just("d"), sub, max_size=1)),
        st.tuples(st.just("enum"), st.lists(SCALARS, max_size=4)),
        st.tuples(st.just("const"), SCALARS),
        st.tuples(st.sampled_from(["minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum",
                                   "minLength", "maxLength", "minItems", "maxItems", "multipleOf"]), bound),
        st.tuples(st.just("pattern"), PATTERNS),
        st.tuples(st.just("format"), st.sampled_from(["date-time", "email", "uuid", "ipv4", "nope"])),
        st.tuples(st.just("$schema"), st.sampled_from(["https://json-schema.org/draft/2020-12/schema",
                                                      "http://json-schema.org/draft-07/schema#", "x"])),
        st.tuples(st.text(max_size=5), SCALARS),
    )


def json_schemas(max_leaves=12):
    leaf = st.one_of(st.just({}), st.builds(lambda t: {"type": t}, TYPES))
    return st.recursive(
        leaf,
        lambda sub: st.lists(keywords(sub), max_size=5).map(dict),
        max_leaves=max_leaves,
    ).filter(lambda s: isinstance(s, dict))


@pytest.mark.grammar
@FUZZ
@given(schema=json_schemas(), strict=st.booleans())
def test_schemas_through_generate(client, schema, strict):
    response = client.post("/generate", json={"prompt": "go", "schema": schema, "max_tokens": 128,
                                              "strict": strict})
    check_answer(response, schema)


@pytest.mark.grammar
@FUZZ
@given(schema=json_schemas(), name=st.text(max_size=10))
def test_schemas_through_chat_completions(client, schema, name):
    body = {"messages": [{"role": "user", "content": "go"}], "max_tokens": 128,
            "response_format": {"type": "json_schema", "json_schema": {"name": name, "schema": schema}}}
    response = client.post("/v1/chat/completions", json=body)
    event(f"HTTP {response.status_code}")
    assert response.status_code < 500, (schema, response.text[:500])
    if response.status_code == 200:
        data = json.loads(response.json()["choices"][0]["message"]["content"])
        assert not list(validator_for(schema)(schema).iter_errors(data))
    else:
        assert_error(response, response.status_code)


# ---- a few through the real model ------------------------------------------------------------------

MODEL_SCHEMAS = st.recursive(
    st.sampled_from([{"type": "integer", "minimum": 0, "maximum": 9}, {"type": "boolean"},
                     {"enum": ["a", "b"]}, {"type": "string", "maxLength": 5}, {"type": "null"}]),
    lambda sub: st.one_of(
        st.dictionaries(st.sampled_from(["a", "b", "c"]), sub, min_size=1, max_size=3).map(
            lambda props: {"type": "object", "properties": props, "required": sorted(props),
                           "additionalProperties": False}),
        st.builds(lambda items: {"type": "array", "items": items, "maxItems": 2}, sub),
    ),
    max_leaves=4,
)


@pytest.mark.model
@settings(max_examples=int(os.environ.get("LIFTINFER_FUZZ_MODEL_EXAMPLES", "4")), deadline=None,
          database=None, suppress_health_check=list(HealthCheck))
@given(schema=MODEL_SCHEMAS)
def test_schemas_through_the_real_model(model_server, schema):
    response = model_server.post("/generate", json={"prompt": "Fill in the JSON.", "schema": schema,
                                                    "max_tokens": 48})
    check_answer(response, schema)


@pytest.fixture(scope="module")
def model_server(real_engine):
    with serving_shared(real_engine) as running, httpx.Client(base_url=running.url, timeout=120) as http:
        yield http
        assert http.post("/generate", json={"prompt": "Ann, 31", "schema": PERSON, "max_tokens": 48}
                         ).status_code == 200
