import pytest

from liftinfer.constraints.disjoint import provably_disjoint, same_value, types_of


@pytest.mark.parametrize(
    "branches, disjoint",
    [
        ([{"const": "a"}, {"const": "b"}], True),
        (
            [
                {"type": "object", "properties": {"kind": {"const": "a"}}, "required": ["kind"]},
                {"type": "object", "properties": {"kind": {"const": "b"}}, "required": ["kind"]},
            ],
            True,
        ),
        (
            [
                {"properties": {"kind": {"const": "a"}}, "required": ["kind"]},
                {"properties": {"kind": {"const": "b"}}, "required": ["kind"]},
            ],
            False,
        ),  # a string matches both
        ([{"enum": [1, 2]}, {"enum": [2.0, 3]}], False),
    ],
)
def test_disjointness_is_only_claimed_when_proved(branches, disjoint):
    assert provably_disjoint(branches, {}) is disjoint


def test_a_ref_to_a_definition_is_followed_and_json_equality_holds():
    defs = {"a": {"const": 1}}
    assert provably_disjoint([{"$ref": "#/$defs/a"}, {"const": 2}], defs)
    assert not provably_disjoint([{"$ref": "#/$defs/a"}, {"const": 1.0}], defs)  # 1 == 1.0 in JSON Schema
    assert same_value(1, 1.0) and not same_value(True, 1)
    assert types_of({"type": ["string", 3]}) == {"string"} and types_of({}) == set()
