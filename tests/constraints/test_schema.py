import pytest

from liftinfer.constraints import schema as schemas
from liftinfer.errors import SchemaError, UnresolvableRef, UnsatisfiableSchema


def test_equal_schemas_share_one_key_whatever_the_key_order():
    a = {"type": "object", "properties": {"x": {"type": "integer"}, "y": {"type": "string"}}}
    b = {"properties": {"y": {"type": "string"}, "x": {"type": "integer"}}, "type": "object"}
    assert schemas.schema_key(a, compact=True) == schemas.schema_key(b, compact=True)
    assert schemas.schema_key(a, compact=True) != schemas.schema_key(a, compact=False)


def test_walker_visits_subschemas_but_not_data():
    schema = {
        "properties": {"a": {"type": "string"}, "b": {"items": {"type": "integer"}}},
        "$defs": {"d": {"anyOf": [{"type": "null"}, {"$ref": "#/$defs/d"}]}},
        "enum": [{"$ref": "not a schema"}],
        "const": {"type": "not a schema"},
    }
    paths = {s.pointer for s in schemas.iter_subschemas(schema)}
    assert {"/", "/properties/a", "/properties/b", "/properties/b/items", "/$defs/d", "/$defs/d/anyOf/1"} <= paths
    assert not any(p.startswith("/enum") or p.startswith("/const") for p in paths)


@pytest.mark.parametrize("schema, where", [
    ({"type": "integr"}, "/type"),
    ({"type": "object", "properties": {"a": {"minLength": -1}}}, "/properties/a/minLength"),
    ({"required": "name"}, "/required"),
])
def test_meta_schema_errors_name_the_place(schema, where):
    with pytest.raises(SchemaError) as info:
        schemas.check_meta_schema(schema)
    assert where in info.value.message
    assert info.value.status == 422


def test_older_drafts_are_checked_against_their_own_meta_schema():
    draft4 = {"$schema": "http://json-schema.org/draft-04/schema#", "type": "number", "maximum": 3,
              "exclusiveMaximum": True}
    schemas.check_meta_schema(draft4)  # boolean exclusiveMaximum is valid in draft-04
    with pytest.raises(SchemaError):
        schemas.check_meta_schema({**draft4, "$schema": "https://json-schema.org/draft/2020-12/schema"})


def test_refs_resolve_or_are_named():
    ok = {"$defs": {"a": {"type": "string"}}, "properties": {"x": {"$ref": "#/$defs/a"}}}
    assert schemas.check_refs(ok) == 1
    with pytest.raises(UnresolvableRef) as info:
        schemas.check_refs({"properties": {"x": {"$ref": "#/$defs/missing"}}})
    assert "#/$defs/missing" in info.value.message and "/properties/x" in info.value.message
    with pytest.raises(UnresolvableRef, match=r"outside the schema document.*not fetched"):
        schemas.check_refs({"$ref": "https://example.com/schema.json"})


def test_draft7_definitions_refs_resolve():
    schema = {"definitions": {"a": {"type": "integer"}}, "items": {"$ref": "#/definitions/a"}}
    assert schemas.check_refs(schema) == 1


@pytest.mark.parametrize("schema, why", [
    (False, "false"),
    ({"type": "integer", "minimum": 5, "maximum": 1}, "minimum 5"),
    ({"type": "number", "exclusiveMinimum": 1, "exclusiveMaximum": 1}, "exclusiveMinimum"),
    ({"enum": []}, "enum is empty"),
    ({"properties": {"a": False}, "required": ["a"]}, "forbidden"),
    ({"properties": {"a": {}}, "required": ["b"], "additionalProperties": False}, "'b'"),
    ({"properties": {"a": {"type": "array", "minItems": 3, "maxItems": 2}}}, "/properties/a"),
])
def test_plainly_unsatisfiable_schemas_are_refused(schema, why):
    with pytest.raises(UnsatisfiableSchema) as info:
        schemas.check_satisfiable(schema)
    assert why in info.value.message


def test_keywords_used_leaves_out_annotations():
    used = schemas.keywords_used({"title": "x", "description": "y", "type": "object",
                                  "properties": {"a": {"type": "string", "format": "email", "examples": ["a"]}}})
    assert used == {"type", "properties", "format"}
