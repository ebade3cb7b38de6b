from liftinfer.constraints.closed import close_objects


def test_generation_closes_objects_the_schema_leaves_open_but_not_merged_ones():
    schema = {"type": "object", "properties": {"a": {"type": "object", "properties": {"b": {}}}}}
    closed = close_objects(schema)
    assert closed["additionalProperties"] is False
    assert closed["properties"]["a"]["additionalProperties"] is False
    merged = {"allOf": [{"$ref": "#/$defs/base"}, {"properties": {"b": {}}}],
              "$defs": {"base": {"properties": {"a": {}}}}}
    assert close_objects(merged) == merged  # closing either branch would forbid the other's property


def test_closing_keeps_every_value_valid_under_negations_and_conditions():
    # closing an object under not/if would let more values through: those stay as they are
    schema = {"not": {"type": "object", "properties": {"a": {}}},
              "if": {"properties": {"a": {}}}, "then": {"type": "object", "properties": {"b": {}}}}
    closed = close_objects(schema)
    assert closed["not"] == schema["not"] and closed["if"] == schema["if"]
    assert closed["then"]["additionalProperties"] is False
