from liftinfer.constraints.locations import in_place, json_pointer, map_subschemas, subschemas


def test_every_draft_s_subschema_locations_are_found_and_data_is_not():
    node = {
        "properties": {"a": {"type": "string"}}, "items": [{"type": "null"}], "additionalItems": False,
        "anyOf": [{"minimum": 1}, "not-a-schema"], "dependencies": {"x": ["y"], "z": {"required": ["w"]}},
        "extends": {"type": "object"}, "disallow": [{"type": "array"}, "string"], "type": ["string", {"type": "null"}],
        "enum": [{"type": "string"}], "const": {"properties": {}}, "default": {"not": {}},
        "$defs": {"d": True},
    }
    found = dict(subschemas(node))
    assert found == {
        ("additionalItems",): False, ("extends",): {"type": "object"}, ("properties", "a"): {"type": "string"},
        ("$defs", "d"): True, ("anyOf", 0): {"minimum": 1}, ("items", 0): {"type": "null"},
        ("disallow", 0): {"type": "array"}, ("type", 1): {"type": "null"}, ("dependencies", "z"): {"required": ["w"]},
    }


def test_in_place_keywords_are_the_ones_applied_to_the_same_value():
    node = {"allOf": [{"a": 1}], "properties": {"p": {}}, "not": {"b": 2}, "items": {"c": 3}}
    assert [path for path, _ in in_place(node)] == [("not",), ("allOf", 0)]


def test_map_rebuilds_only_subschemas():
    node = {"type": "object", "properties": {"a": {}}, "anyOf": [{}, 3], "enum": [{}]}
    out = map_subschemas(node, lambda sub, key: {"seen": key})
    assert out == {"type": "object", "properties": {"a": {"seen": "properties"}},
                   "anyOf": [{"seen": "anyOf"}, 3], "enum": [{}]}
    assert node["properties"] == {"a": {}}  # a copy
    assert json_pointer(()) == "/" and json_pointer(("a", 0)) == "/a/0"
