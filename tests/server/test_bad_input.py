"""Bad input, each a test: a 4xx in the one error shape naming the field and the problem, and the server
answers the next good request normally. Both /generate and /v1/chat/completions, over loopback."""

import json

import httpx
import pytest

from liftinfer.config import EngineConfig
from liftinfer.testing import FakeEngine
from tests.conftest import PERSON
from tests.server.support import assert_error, assert_still_serving, serving

ANN = {"name": "Ann", "age": 31}


def respond(prepared):
    """Ann, unless the prompt asks for an output that does not validate."""
    prompt = prepared.chat[-1]["content"]
    return json.dumps({"name": "Ann"}) if prompt == "leave out the age" else json.dumps(ANN)


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    engine = FakeEngine(respond, config=EngineConfig(cache_dir=tmp_path_factory.mktemp("cache")))
    engine.load()
    with serving(engine) as server, httpx.Client(base_url=server.url, timeout=10) as http:
        yield http
    engine.close()


def chat(schema=PERSON, **fields):
    body = {"messages": [{"role": "user", "content": "Ann, 31"}],
            "response_format": {"type": "json_schema", "json_schema": {"name": "person", "schema": schema}}}
    return {**body, **fields}


def gen(**fields):
    return {"prompt": "Ann, 31", "schema": PERSON, **fields}


NOT_JSON_SCHEMA = {"type": "object", "properties": {"age": {"type": "integr"}}}
UNSATISFIABLE = {"type": "integer", "minimum": 10, "maximum": 1}
DANGLING_REF = {"type": "object", "properties": {"a": {"$ref": "#/$defs/missing"}}}

# (body, status, error type, field, words in the message)
GENERATE = {
    "missing prompt": ({"schema": PERSON}, 400, "invalid_request", "prompt", "'prompt' or 'messages'"),
    "missing schema": ({"prompt": "x"}, 400, "invalid_request", "schema", "field required"),
    "prompt not a string": (gen(prompt=5), 400, "invalid_request", "prompt", "string"),
    "schema not an object": (gen(schema="person"), 400, "invalid_request", "schema", "JSON Schema object"),
    "max_tokens not a number": (gen(max_tokens="many"), 400, "invalid_request", "max_tokens", "integer"),
    "temperature too hot": (gen(temperature=9), 400, "invalid_request", "temperature", "less than or equal"),
    "unknown field": (gen(colour="red"), 400, "invalid_request", "colour", "unknown field"),
    "schema not JSON Schema": (gen(schema=NOT_JSON_SCHEMA), 422, "invalid_schema", "schema",
                               "not valid JSON Schema at /properties/age/type"),
    "unsatisfiable schema": (gen(schema=UNSATISFIABLE), 422, "unsatisfiable_schema", "schema",
                             "unsatisfiable"),
    "$ref that does not resolve": (gen(schema=DANGLING_REF), 422, "unresolvable_ref", "schema",
                                   "'#/$defs/missing'"),
    "max_tokens zero": (gen(max_tokens=0), 400, "invalid_request", "max_tokens",
                        "greater than or equal to 1"),
    "max_tokens above the server's limit": (gen(max_tokens=5000), 400, "invalid_request", "max_tokens",
                                            "at most 4096"),
    "max_tokens absurd": (gen(max_tokens=10**30), 400, "invalid_request", "max_tokens", "less than or equal"),
}

CHAT = {
    "missing messages": ({"response_format": chat()["response_format"]}, 400, "invalid_request", "messages",
                         "field required"),
    "no response_format": ({"messages": chat()["messages"]}, 400, "invalid_request", "response_format",
                           "response_format is required"),
    "json_schema without schema": (chat() | {"response_format": {"type": "json_schema", "json_schema": {}}},
                                   400, "invalid_request", "response_format.json_schema.schema",
                                   "field required"),
    "messages not a list": (chat(messages="hi"), 400, "invalid_request", "messages", "list"),
    "unknown role": (chat(messages=[{"role": "robot", "content": "x"}]), 400, "invalid_request",
                     "messages.0.role", "'system', 'user' or 'assistant'"),
    "schema not JSON Schema": (chat(NOT_JSON_SCHEMA), 422, "invalid_schema",
                               "response_format.json_schema.schema", "not valid JSON Schema"),
    "unsatisfiable schema": (chat(UNSATISFIABLE), 422, "unsatisfiable_schema",
                             "response_format.json_schema.schema", "unsatisfiable"),
    "$ref that does not resolve": (chat(DANGLING_REF), 422, "unresolvable_ref",
                                   "response_format.json_schema.schema", "does not resolve"),
    "max_tokens zero": (chat(max_tokens=0), 400, "invalid_request", "max_tokens", "greater than or equal"),
    "max_completion_tokens above the limit": (chat(max_completion_tokens=5000), 400, "invalid_request",
                                              "max_tokens", "at most 4096"),
    "two choices": (chat(n=2), 400, "invalid_request", "n", "less than or equal to 1"),
}


@pytest.mark.parametrize("case", list(GENERATE), ids=list(GENERATE))
def test_generate_refuses(client, case):
    body, status, type_, field, says = GENERATE[case]
    assert_error(client.post("/generate", json=body), status, type_, field, says)
    assert_still_serving(client)


@pytest.mark.parametrize("case", list(CHAT), ids=list(CHAT))
def test_chat_completions_refuses(client, case):
    body, status, type_, field, says = CHAT[case]
    assert_error(client.post("/v1/chat/completions", json=body), status, type_, field, says)
    assert_still_serving(client)


@pytest.mark.parametrize("path", ["/generate", "/v1/chat/completions"])
@pytest.mark.parametrize("content, says", [
    (b"", "request body is required"),
    (b"{\"prompt\": \"x\", \"schema\": {", "not valid JSON"),
    (b"prompt=x&schema=y", "not valid JSON"),
    (b"[1, 2]", "must be a JSON object"),
    (b"null", "request body"),
], ids=["empty", "truncated", "not JSON", "array", "null"])
def test_bodies_that_are_not_a_json_object(client, path, content, says):
    response = client.post(path, content=content, headers={"content-type": "application/json"})
    assert_error(response, 400, "invalid_request", says=says)
    assert_still_serving(client)


@pytest.mark.parametrize("path, body", [("/generate", gen(prompt="leave out the age")),
                                        ("/v1/chat/completions",
                                         chat(messages=[{"role": "user", "content": "leave out the age"}]))])
def test_an_output_that_does_not_validate_is_a_422_that_says_so(client, path, body):
    error = assert_error(client.post(path, json=body), 422, "output_invalid",
                         says="does not validate against the schema")
    assert "'age' is a required property" in error["message"]
    assert error["details"]["text"] == '{"name": "Ann"}'
    assert_still_serving(client)


def test_a_good_chat_request_after_bad_ones_succeeds(client):
    response = client.post("/v1/chat/completions", json=chat())
    assert response.status_code == 200
    assert json.loads(response.json()["choices"][0]["message"]["content"]) == ANN
