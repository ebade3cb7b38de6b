"""Nothing outside a schema document is ever resolved: no network, no files, on every path."""

import contextlib
import http.server
import os
import threading

import pytest
from referencing.exceptions import Unresolvable

from liftinfer.constraints.builder import ConstraintBuilder, make_validator, plan
from liftinfer.constraints.limits import check_ref_loops
from liftinfer.constraints.refs import DocumentRefs
from liftinfer.errors import SchemaError, UnresolvableRef

DRAFT3 = "http://json-schema.org/draft-03/schema#"
DRAFT2019 = "https://json-schema.org/draft/2019-09/schema"


@pytest.fixture
def canary():
    """A loopback server that records every request it gets: a schema must never make one."""
    seen: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            seen.append(self.path)
            body = b'{"type": "string"}'
            self.send_response(200)
            self.send_header("Content-Type", "application/schema+json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", seen
    finally:
        server.shutdown()
        server.server_close()


def outside_refs(url: str) -> dict[str, dict]:
    return {
        "$ref": {"$ref": f"{url}/ref"},
        "$dynamicRef": {"$dynamicRef": f"{url}/dynamic#meta"},
        "$recursiveRef in 2019-09": {"$schema": DRAFT2019, "$recursiveRef": f"{url}/recursive"},
        "draft-03 disallow": {"$schema": DRAFT3, "disallow": [{"$ref": f"{url}/disallow"}]},
        "draft-03 extends": {"$schema": DRAFT3, "extends": [{"$ref": f"{url}/extends"}]},
        "in a property": {"properties": {"a": {"$ref": f"{url}/property"}}},
        "in an anyOf": {"anyOf": [{"type": "null"}, {"$ref": f"{url}/anyof"}]},
        "relative to an $id": {"$id": f"{url}/base.json", "properties": {"a": {"$ref": "other.json"}}},
    }


@pytest.mark.parametrize("name", list(outside_refs("http://x")))
def test_an_outside_reference_is_refused_and_never_fetched(canary, name):
    url, seen = canary
    schema = outside_refs(url)[name]
    with pytest.raises(UnresolvableRef, match="not fetched") as info:
        ConstraintBuilder().build(schema, strict=False)
    assert url in info.value.message or "other.json" in info.value.message
    assert info.value.status == 422
    # the same schema handed straight to validation and to the cycle check: no fetch (validation raises
    # Unresolvable for what it follows, and ignores what its draft does not follow)
    validator = make_validator(schema)
    for instance in ("x", {"a": "x"}):
        with contextlib.suppress(Unresolvable, RecursionError):
            list(validator.iter_errors(instance))
    check_ref_loops(schema)
    assert seen == []


def test_a_file_reference_is_never_opened(tmp_path):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)  # opening a FIFO for reading blocks until a writer comes: a test that hangs has opened it
    for schema in ({"$ref": fifo.as_uri()}, {"$dynamicRef": fifo.as_uri()},
                   {"$schema": DRAFT3, "disallow": [{"$ref": fifo.as_uri()}]}, {"$ref": "file:///etc/passwd"}):
        with pytest.raises(UnresolvableRef, match="outside the schema document"):
            plan(schema)
        with pytest.raises(Unresolvable):
            list(make_validator(schema).iter_errors(1))


def test_references_inside_the_document_resolve_in_every_form():
    schema = {
        "$id": "https://example.com/root.json",
        "$defs": {
            "name": {"$anchor": "name", "type": "string"},
            "meta": {"$dynamicAnchor": "meta", "type": "integer"},
            "nested": {"$id": "nested.json", "$defs": {"x": {"type": "boolean"}}, "$ref": "#/$defs/x"},
        },
        "properties": {
            "a": {"$ref": "#name"},
            "b": {"$ref": "https://example.com/root.json#/$defs/name"},
            "c": {"$dynamicRef": "#meta"},
            "d": {"$ref": "nested.json"},
        },
    }
    assert DocumentRefs(schema).check() == 5
    validator = make_validator(schema)
    assert validator.is_valid({"a": "x", "b": "y", "c": 1, "d": True})
    assert not validator.is_valid({"d": 1})


def test_a_cycle_that_never_reaches_a_value_is_refused_through_any_reference_form():
    by_pointer = {"$defs": {"a": {"allOf": [{"$ref": "#/$defs/b"}]}, "b": {"$ref": "#/$defs/a"}},
                  "$ref": "#/$defs/a"}
    by_anchor = {"$defs": {"a": {"$anchor": "a", "anyOf": [{"$ref": "#b"}]}, "b": {"$anchor": "b", "$ref": "#a"}},
                 "$ref": "#a"}
    by_id = {"$id": "urn:example:root", "$defs": {"a": {"$id": "urn:example:a", "not": {"$ref": "urn:example:a"}}},
             "$ref": "urn:example:a"}
    for schema in (by_pointer, by_anchor, by_id):
        with pytest.raises(SchemaError, match="refers to itself without consuming any input"):
            plan(schema)


def test_draft7_keywords_beside_a_ref_make_no_cycle():
    # up to draft-07 the allOf beside the $ref is not applied: there is no loop to refuse
    schema = {"$schema": "http://json-schema.org/draft-07/schema#",
              "definitions": {"a": {"$ref": "#/definitions/b", "allOf": [{"$ref": "#/definitions/a"}]},
                              "b": {"type": "string"}},
              "$ref": "#/definitions/a"}
    check_ref_loops(schema)
    assert plan(schema).best.schema["$defs"]
