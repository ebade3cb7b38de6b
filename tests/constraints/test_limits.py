"""Schema and request limits: checked with explicit stacks, so hostile schemas get a 4xx, never a crash."""

import pytest

from liftinfer.config import EngineConfig
from liftinfer.constraints.limits import CheckedSchemas, SchemaLimits, check_request_limits, check_schema_limits
from liftinfer.engine.base import make_request
from liftinfer.errors import RequestError, SchemaError, SchemaTooComplex

LIMITS = SchemaLimits(max_bytes=10_000, max_depth=16, max_refs=4)


def nested(levels, key="items"):
    schema = {}
    for _ in range(levels):
        schema = {key: schema}
    return schema


def test_a_schema_nested_far_beyond_the_recursion_limit_is_refused_by_depth():
    with pytest.raises(SchemaTooComplex, match="more than 16 levels deep") as info:
        check_schema_limits(nested(100_000), LIMITS)
    assert info.value.status == 422 and info.value.field == "schema"


def test_depth_counts_data_under_enum_too():
    deep_list = []
    for _ in range(40):
        deep_list = [deep_list]
    with pytest.raises(SchemaTooComplex, match="/enum/0/0"):
        check_schema_limits({"enum": deep_list}, LIMITS)


def test_size_and_ref_count_limits_name_the_figures():
    wide = {"type": "object", "properties": {f"p{i}": {"type": "integer"} for i in range(1000)}}
    with pytest.raises(SchemaTooComplex, match=r"schema is \d+ bytes; the limit is 10000"):
        check_schema_limits(wide, LIMITS)
    refs = {"$defs": {"a": {"type": "integer"}}, "type": "array",
            "prefixItems": [{"$ref": "#/$defs/a"} for _ in range(5)]}
    with pytest.raises(SchemaTooComplex, match="5 \\$refs; the limit is 4"):
        check_schema_limits(refs, LIMITS)


def test_optional_properties_are_limited_per_object_required_ones_are_not():
    many = {f"p{i}": {"type": "integer"} for i in range(300)}
    check_schema_limits({"type": "object", "properties": many, "required": list(many)},
                        SchemaLimits(10**6, 16, 4, max_optional_properties=10))
    with pytest.raises(SchemaTooComplex, match="/properties/inner has 300 optional properties; the limit"):
        check_schema_limits({"properties": {"inner": {"properties": many, "required": [{"odd": 1}]}}},
                            SchemaLimits(10**6, 16, 4, max_optional_properties=10))


@pytest.mark.parametrize("schema, where", [
    ({"$ref": "#"}, "/ leads back to /"),
    ({"$ref": "#/$defs/a", "$defs": {"a": {"$ref": "#/$defs/b"}, "b": {"allOf": [{"$ref": "#/$defs/a"}]}}},
     "/$defs/a"),
    ({"anyOf": [{"type": "string"}, {"$ref": "#"}]}, "leads back to /"),
    ({"$defs": {"x": {"$anchor": "loop", "not": {"$ref": "#loop"}}}, "$ref": "#/$defs/x"}, "/$defs/x"),
    ({"$id": "urn:s", "oneOf": [{"$ref": "urn:s#"}]}, "leads back to /"),
])
def test_a_ref_cycle_that_consumes_nothing_is_refused(schema, where):
    with pytest.raises(SchemaError, match="refers to itself without consuming any input") as info:
        check_schema_limits(schema, LIMITS)
    assert where in info.value.message


@pytest.mark.parametrize("schema", [
    {"type": "object", "properties": {"children": {"type": "array", "items": {"$ref": "#"}}}},
    {"$defs": {"node": {"type": "object", "properties": {"next": {"$ref": "#/$defs/node"}}}},
     "$ref": "#/$defs/node"},
    {"$ref": "#/$defs/a", "$defs": {"a": {"$ref": "#/$defs/b"}, "b": {"type": "string"}}},
    {"$ref": "#/$defs/missing"},  # left to the $ref check, which names it
])
def test_recursion_through_properties_or_items_is_fine(schema):
    check_schema_limits(schema, LIMITS)


def test_json_has_no_nan_and_no_lone_surrogates():
    with pytest.raises(SchemaError, match="NaN at /minimum"):
        check_schema_limits({"type": "number", "minimum": float("nan")}, LIMITS)
    with pytest.raises(SchemaError, match="-Infinity at /maximum"):
        check_schema_limits({"type": "number", "maximum": float("-inf")}, LIMITS)
    with pytest.raises(SchemaError, match="unpaired surrogate"):
        check_schema_limits({"properties": {"\ud800": {}}}, LIMITS)
    with pytest.raises(SchemaError, match="must be a string"):
        check_schema_limits({"$schema": 5}, LIMITS)


@pytest.mark.parametrize("schema", [{"type": "integer", "pattern": "("},
                                    {"not": {"patternProperties": {"a{2,1}": {}}}}])
def test_a_regular_expression_that_does_not_compile_is_refused(schema):
    with pytest.raises(SchemaError, match="is not a valid regular expression"):
        check_schema_limits(schema, LIMITS)


@pytest.mark.parametrize("fields, field", [
    ({"prompt": "a\udfffb"}, "prompt"),
    ({"messages": [{"role": "user", "content": "ok"}, {"role": "user", "content": "\ud83d"}]},
     "messages.1.content"),
    ({"prompt": "x", "stop": ["\ud800"]}, "stop.0"),
])
def test_text_that_cannot_be_encoded_is_a_request_error_naming_the_field(fields, field):
    request = make_request(schema={"type": "object"}, **fields)
    with pytest.raises(RequestError) as info:
        check_request_limits(request, EngineConfig())
    assert info.value.field == field and info.value.status == 400


def test_config_limits_apply_through_the_request():
    request = make_request(prompt="x", schema=nested(10))
    check_request_limits(request, EngineConfig())
    with pytest.raises(SchemaTooComplex):
        check_request_limits(request, EngineConfig(max_schema_depth=4))


def test_a_schema_that_passed_is_not_walked_again(monkeypatch):
    from liftinfer.constraints import limits

    walked = []
    real = limits.check_schema_limits
    monkeypatch.setattr(limits, "check_schema_limits", lambda s, lim: (walked.append(s), real(s, lim)))
    checked = CheckedSchemas()
    small = {"type": "object", "properties": {"b": {"type": "string"}, "a": {"type": "integer"}}}
    checked.check(small, LIMITS)
    checked.check({"properties": {"a": {"type": "integer"}, "b": {"type": "string"}}, "type": "object"}, LIMITS)
    assert len(walked) == 1  # the same schema, keys in another order
    checked.check({**small, "required": ["a"]}, LIMITS)
    assert len(walked) == 2


def test_a_refused_schema_is_refused_every_time_and_tighter_limits_apply_to_known_schemas():
    checked = CheckedSchemas()
    for _ in range(2):
        with pytest.raises(SchemaTooComplex, match="nests more than"):
            checked.check(nested(LIMITS.max_depth + 5), LIMITS)
    wide = {"type": "object", "properties": {f"p{i}": {"type": "string"} for i in range(40)}}
    checked.check(wide, LIMITS)
    with pytest.raises(SchemaTooComplex, match="bytes"):
        checked.check(wide, SchemaLimits(max_bytes=200, max_depth=16, max_refs=4))


def test_schemas_json_cannot_hold_get_the_full_checks_clear_errors():
    checked = CheckedSchemas()
    with pytest.raises(SchemaTooComplex, match="nests more than"):
        checked.check(nested(100_000), LIMITS)  # too deep even to serialise: RecursionError, then the walk
    with pytest.raises(SchemaError, match="surrogate"):
        checked.check({"description": "\ud800"}, LIMITS)
    with pytest.raises(SchemaError, match="NaN"):
        checked.check({"minimum": float("nan")}, LIMITS)


def test_only_the_newest_schemas_are_remembered():
    checked = CheckedSchemas(capacity=2)
    for i in range(3):
        checked.check({"title": str(i)}, LIMITS)
    assert len(checked._passed) == 2
