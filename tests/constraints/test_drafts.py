import pytest

from liftinfer.constraints.drafts import normalise
from liftinfer.errors import UnresolvableRef, UnsatisfiableSchema

DRAFT4 = "http://json-schema.org/draft-04/schema#"
DRAFT7 = "http://json-schema.org/draft-07/schema#"


def test_draft4_boolean_exclusive_bounds_become_numbers():
    out = normalise(
        {
            "$schema": DRAFT4,
            "type": "number",
            "maximum": 5,
            "exclusiveMaximum": True,
            "minimum": 1,
            "exclusiveMinimum": False,
        }
    ).schema
    assert out == {"type": "number", "exclusiveMaximum": 5, "minimum": 1}


def test_definitions_refs_and_ids_end_up_under_defs():
    schema = {
        "$schema": DRAFT4,
        "id": "http://example.com/s.json",
        "definitions": {"name": {"type": "string"}},
        "properties": {"a": {"$ref": "#/definitions/name"}, "b": {"$ref": "s.json#/definitions/name"}},
    }
    result = normalise(schema)
    assert result.draft == "draft-04" and result.refs == 2
    assert result.schema == {
        "properties": {"a": {"$ref": "#/$defs/name"}, "b": {"$ref": "#/$defs/name"}},
        "$defs": {"name": {"type": "string"}},
    }


def test_tuple_items_and_dependencies_take_their_2020_12_names():
    out = normalise(
        {
            "$schema": DRAFT7,
            "items": [{"type": "string"}],
            "additionalItems": {"type": "integer"},
            "dependencies": {"a": ["b"], "c": {"required": ["d"]}},
        }
    ).schema
    assert out == {
        "prefixItems": [{"type": "string"}],
        "items": {"type": "integer"},
        "dependentRequired": {"a": ["b"]},
        "dependentSchemas": {"c": {"required": ["d"]}},
    }


def test_ref_overrides_its_siblings_up_to_draft7_only():
    old = normalise(
        {
            "$schema": DRAFT7,
            "definitions": {"s": {"type": "string"}},
            "properties": {"a": {"$ref": "#/definitions/s", "maxLength": 3}},
        }
    ).schema
    assert old["properties"]["a"] == {"$ref": "#/$defs/s"}
    new = normalise(
        {"$defs": {"s": {"type": "string"}}, "properties": {"a": {"$ref": "#/$defs/s", "maxLength": 3}}}
    ).schema
    assert new["properties"]["a"] == {"$ref": "#/$defs/s", "maxLength": 3}


def test_keywords_the_draft_does_not_know_are_dropped_and_noted():
    result = normalise({"$schema": DRAFT4, "type": "string", "const": "x", "x-vendor": 1, "title": "t"})
    assert result.schema == {"type": "string"}  # const arrived in draft-06
    assert result.dropped == ["/const", "/x-vendor"]


def test_recursive_refs_keep_one_definition():
    schema = {
        "$defs": {"node": {"type": "object", "properties": {"next": {"$ref": "#/$defs/node"}}}},
        "$ref": "#/$defs/node",
    }
    out = normalise(schema).schema
    assert out["$defs"]["node"]["properties"]["next"] == {"$ref": "#/$defs/node"}


NODE = {"type": "object", "properties": {"next": {"$ref": "#/$defs/node"}, "v": {"type": "integer"}}}


def linked(**node):
    return {"$defs": {"node": {**NODE, **node}}, "$ref": "#/$defs/node"}


@pytest.mark.parametrize("schema", [
    linked(required=["next"]),
    {"type": "object", "properties": {"a": {"$ref": "#"}}, "required": ["a"]},
    {"$id": "urn:x", "type": "array", "items": {"$ref": "urn:x"}, "minItems": 1},
    {"definitions": {"n": {"type": "object", "properties": {"k": {"$ref": "#/definitions/m"}}, "required": ["k"]},
                     "m": {"type": "array", "prefixItems": [{"$ref": "#/definitions/n"}], "minItems": 1}},
     "$ref": "#/definitions/n"},
    linked(required=["next"], anyOf=[{"required": ["v"]}, {"properties": {"next": {"type": "object"}}}]),
    {"type": "object", "properties": {"a": {"$ref": "#"}}, "required": ["a"], "allOf": [{"type": "object"}]},
    linked(required=["next"], type=["object", "array"], minItems=1, items={"$ref": "#/$defs/node"}),
])
def test_recursion_with_no_way_out_is_unsatisfiable(schema):
    with pytest.raises(UnsatisfiableSchema, match="recurses without a way out") as refused:
        normalise(schema)
    assert refused.value.status == 422


@pytest.mark.parametrize("schema", [
    linked(),  # next is optional
    linked(required=["v"]),
    linked(required=["next"], type=["object", "null"]),  # null ends it
    linked(required=["next"], type=["object", "array"]),  # so does []
    {"$defs": {"node": {"anyOf": [{"type": "integer"}, {**NODE, "required": ["next"]}]}}, "$ref": "#/$defs/node"},
    {"$id": "urn:x", "type": "array", "items": {"$ref": "urn:x"}},  # [] ends it
    {"$id": "urn:x", "type": "array", "items": {"$ref": "urn:x"}, "minItems": 1, "maxItems": 2,
     "prefixItems": [{"type": "integer"}]},  # [1] ends it
    linked(required=["next"], const={"v": 1}),  # whatever the rules say, const/enum values are finite
])
def test_recursion_that_can_end_is_kept(schema):
    assert normalise(schema).schema


def test_a_ref_to_false_is_left_to_the_other_checks():
    # unsatisfiable, but not by recursion: the grammar engines name the reason
    assert normalise({"$defs": {"no": False}, "$ref": "#/$defs/no"}).schema


def test_unresolvable_refs_name_the_place():
    with pytest.raises(UnresolvableRef, match="/properties/a"):
        normalise({"properties": {"a": {"$ref": "#/$defs/missing"}}})
