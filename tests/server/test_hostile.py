"""A catalogue of hostile inputs against a real server on loopback: each gets a clear 4xx (or a valid
answer), none a 5xx or a hang, and a good request succeeds after every one.

The engine decodes through real xgrammar grammars (``GrammarEngine``), so compilation is exercised too.
"""

import json
import socket
import time

import httpx
import pytest

from tests.server.support import GOOD, assert_error, assert_still_serving, grammar_engine, serving

pytestmark = pytest.mark.grammar

MB = 2**20
JSON = {"content-type": "application/json"}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    engine = grammar_engine(tmp_path_factory.mktemp("cache"), max_tokens_limit=512)
    with serving(engine, body_timeout_s=1.0) as running:
        yield running
    engine.close()


@pytest.fixture
def client(server):
    with httpx.Client(base_url=server.url, timeout=30) as http:
        yield http
    # every case leaves the server able to serve
    with httpx.Client(base_url=server.url, timeout=30) as http:
        assert_still_serving(http)


def nested(levels, inner="{}"):
    return '{"type":"array","items":' * levels + inner + "}" * levels


def body_with(schema_json, **fields):
    extra = "".join(f',"{k}":{json.dumps(v)}' for k, v in fields.items())
    return ('{"prompt":"go","max_tokens":64,"schema":' + schema_json + extra + "}").encode()


GOOD_BYTES = json.dumps(GOOD).encode()

# Raw bodies: (bytes, status, words in the message)
RAW = {
    "non-JSON": (b"hello there", 400, "not valid JSON"),
    "truncated at 1/3": (GOOD_BYTES[: len(GOOD_BYTES) // 3], 400, "not valid JSON"),
    "truncated before the last brace": (GOOD_BYTES[:-1], 400, "not valid JSON"),
    "invalid UTF-8 in a string": (b'{"prompt":"caf\xe9","schema":{}}', 400, "not valid UTF-8"),
    "overlong UTF-8 encoding": (b'{"prompt":"\xc0\xaf","schema":{}}', 400, "not valid UTF-8"),
    "a lone continuation byte": (b'{"prompt":"\x80"}', 400, "not valid UTF-8"),
    "100 000 nested arrays": (b"[" * 100_000 + b"]" * 100_000, 400, "nests too deeply"),
    "schema nested 5000 deep": (body_with(nested(5000)), 400, "nests too deeply"),
    "a 5000-digit integer": (body_with('{"type":"integer","maximum":' + "9" * 5000 + "}"), 400,
                             "not valid JSON"),
    "NaN in the schema": (body_with('{"type":"number","minimum":NaN}'), 422, "NaN"),
    "Infinity in the schema": (body_with('{"type":"number","maximum":Infinity}'), 422, "Infinity"),
    "1e400 in the schema": (body_with('{"type":"number","maximum":1e400}'), 422, "Infinity"),
    "a lone surrogate in the prompt": (b'{"prompt":"\\udc00","schema":{}}', 400, "unpaired surrogate"),
    "a lone surrogate in a schema key": (body_with('{"properties":{"\\ud800":{}}}'), 422,
                                         "unpaired surrogate"),
}


@pytest.mark.parametrize("case", list(RAW), ids=list(RAW))
def test_raw_bodies(client, case):
    content, status, says = RAW[case]
    assert_error(client.post("/generate", content=content, headers=JSON), status, says=says)


@pytest.mark.parametrize("ctype", ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data",
                                   "application/xml", "application/jsonx"])
@pytest.mark.parametrize("path", ["/generate", "/v1/chat/completions"])
def test_wrong_content_types(client, path, ctype):
    response = client.post(path, content=GOOD_BYTES, headers={"content-type": ctype})
    assert_error(response, 415, "unsupported_media_type", "content-type", ctype)


def test_a_10_mb_body_is_refused_with_413_and_the_client_reads_it(client):
    response = client.post("/generate", content=b"x" * (10 * MB), headers=JSON)
    assert_error(response, 413, "payload_too_large", says="the limit is 2097152 bytes")


def test_a_10_mb_body_without_content_length_is_counted_as_it_arrives(client):
    def chunks():
        for _ in range(10):
            yield b" " * MB

    response = client.post("/generate", content=chunks(), headers=JSON)
    assert "content-length" not in response.request.headers
    assert_error(response, 413, "payload_too_large")


def test_a_10_mb_prompt_in_valid_json_is_refused_before_parsing(client):
    response = client.post("/generate", json={**GOOD, "prompt": "x" * (10 * MB)})
    assert_error(response, 413, "payload_too_large")


def test_a_body_sent_too_slowly_gets_408(server):
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(b"POST /generate HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
                     b"content-length: 100\r\n\r\n{\"prompt\":")
        start = time.monotonic()
        received = b""
        while chunk := sock.recv(65536):  # the server closes the connection after the reply
            received += chunk
    reply = received.decode()
    assert reply.startswith("HTTP/1.1 408"), reply
    assert '"type":"body_timeout"' in reply
    assert time.monotonic() - start < 5


# Schemas: (schema, statuses allowed, words in the message when refused)
SCHEMAS = {
    "self-reference": ({"$ref": "#"}, {422}, "refers to itself"),
    "a $defs loop": ({"$ref": "#/$defs/a", "$defs": {"a": {"$ref": "#/$defs/b"}, "b": {"$ref": "#/$defs/a"}}},
                     {422}, "refers to itself"),
    "a loop through anyOf": ({"anyOf": [{"type": "integer"}, {"allOf": [{"$ref": "#"}]}]}, {422},
                             "refers to itself"),
    "recursion with no way out": ({"type": "object", "properties": {"next": {"$ref": "#"}}, "required": ["next"]},
                                  {422}, "recurses without a way out"),
    "recursion through items (fine)": ({"type": "array", "items": {"$ref": "#"}, "maxItems": 2}, {200}, ""),
    "nested 60 deep (fine)": (json.loads(nested(60)), {200}, ""),
    "nested 500 deep": (json.loads(nested(500)), {422}, "levels deep"),
    "5000 optional properties": ({"type": "object", "properties": {f"p{i}": {"type": "integer"}
                                                                  for i in range(5000)}}, {422},
                                 "5000 optional properties; the limit is 256"),
    "2000 required properties": ({"type": "object", "properties": {f"p{i}": {"type": "integer"}
                                                                  for i in range(2000)},
                                  "required": [f"p{i}" for i in range(2000)]}, {422}, "max_tokens"),
    "30 000 properties": ({"type": "object", "properties": {f"p{i}": {"type": "integer"}
                                                           for i in range(30_000)}},
                          {422}, "bytes; the limit"),
    "minimum above maximum": ({"type": "integer", "minimum": 5, "maximum": 1}, {422}, "unsatisfiable"),
    "an empty enum": ({"enum": []}, {422}, "unsatisfiable"),
    "string and integer at once": ({"allOf": [{"type": "string"}, {"type": "integer"}]}, {422}, ""),
    "a required property that is forbidden": ({"type": "object", "properties": {"a": False},
                                               "required": ["a"]}, {422}, "unsatisfiable"),
    "an unclosed regex": ({"type": "string", "pattern": "("}, {422}, "not a valid regular expression"),
    "an unclosed regex on an integer": ({"type": "integer", "pattern": "("}, {422}, "regular expression"),
    "a catastrophic regex": ({"type": "string", "pattern": "^(a+)+$", "maxLength": 8}, {200}, ""),
    "a 1 MB enum string": ({"enum": ["x" * MB]}, {422}, "limit"),
    "$schema that is a number": ({"$schema": 5}, {422}, "$schema must be a string"),
    "an unknown $schema": ({"$schema": "http://example.com/nope", "type": "boolean"}, {200}, ""),
    "a remote $ref": ({"$ref": "http://169.254.169.254/latest/meta-data"}, {422}, "not fetched"),
    "a type that is not one": ({"type": "integr"}, {422}, "not valid JSON Schema"),
    # xgrammar does not enforce allOf of several branches: validation catches what its grammar lets through
    "a 2000-item allOf": ({"allOf": [{"type": "integer"}] * 2000}, {200, 422}, ""),
}


@pytest.mark.parametrize("case", list(SCHEMAS), ids=list(SCHEMAS))
def test_hostile_schemas(client, case):
    schema, allowed, says = SCHEMAS[case]
    start = time.monotonic()
    response = client.post("/generate", json={"prompt": "go", "schema": schema, "max_tokens": 64})
    assert response.status_code in allowed, response.text[:500]
    if response.status_code >= 400:
        assert_error(response, response.status_code, says=says)
    assert time.monotonic() - start < 20


@pytest.mark.parametrize("method, path, status", [
    ("GET", "/generate", 405), ("DELETE", "/health", 405), ("POST", "/nowhere", 404),
    ("GET", "/../../etc/passwd", 404),
])
def test_wrong_methods_and_paths_get_the_one_shape(client, method, path, status):
    assert_error(client.request(method, path), status)
