import re

import pytest
from jsonschema import Draft202012Validator

from liftinfer.constraints.keywords import CALENDAR_PATTERNS, LLGUIDANCE, XGRAMMAR, relax

CHECKED = frozenset(Draft202012Validator.FORMAT_CHECKER.checkers)


def test_oneof_of_disjoint_branches_is_exact_as_anyof():
    schema = {"oneOf": [{"type": "string"}, {"type": "integer"}]}
    view = relax(schema, LLGUIDANCE, CHECKED)
    assert view.exact and view.schema == {"anyOf": [{"type": "string"}, {"type": "integer"}]}


def test_oneof_of_overlapping_branches_is_left_to_validation():
    schema = {"oneOf": [{"type": "number"}, {"type": "integer"}]}
    view = relax(schema, LLGUIDANCE, CHECKED)
    assert view.validation_only == {"oneOf": ["/oneOf"]}
    assert view.schema == {"anyOf": [{"type": "number"}, {"type": "integer"}]}


def test_keywords_no_engine_enforces_are_relaxed_for_both():
    schema = {"type": "array", "items": {"type": "integer"}, "uniqueItems": True, "not": {"maxItems": 0}}
    for profile in (XGRAMMAR, LLGUIDANCE):
        view = relax(schema, profile, CHECKED)
        assert set(view.validation_only) == {"uniqueItems", "not"}
        assert view.schema == {"type": "array", "items": {"type": "integer"}}


def test_xgrammar_is_exact_only_where_types_are_explicit():
    untyped = {"maxLength": 3}
    assert relax(untyped, XGRAMMAR, CHECKED).validation_only == {"maxLength": ["/maxLength"]}
    assert relax(untyped, LLGUIDANCE, CHECKED).exact


def test_enum_beside_other_keywords_narrows_to_the_values_that_pass_them():
    view = relax({"type": "string", "enum": ["a", 1, "bb"], "maxLength": 1}, XGRAMMAR, CHECKED)
    assert view.schema == {"enum": ["a"]} and view.exact
    assert relax({"type": "object", "enum": ["a"]}, XGRAMMAR, CHECKED).schema is False


def test_unknown_formats_are_annotations_and_unchecked_ones_validation_only():
    assert relax({"type": "string", "format": "path"}, LLGUIDANCE, CHECKED).schema == {"type": "string"}
    view = relax({"type": "string", "format": "iri"}, LLGUIDANCE, CHECKED)
    assert view.validation_only == {"format": ["/format"]}


@pytest.mark.parametrize(
    "value",
    [
        "2024-02-29",
        "2023-02-29",
        "1900-02-29",
        "2000-02-29",
        "0000-01-01",
        "2023-04-31",
        "2023-12-31",
        "2023-1-01",
    ],
)
def test_date_pattern_agrees_with_the_validator(value):
    checker = Draft202012Validator.FORMAT_CHECKER
    assert bool(re.fullmatch(CALENDAR_PATTERNS["date"][1:-1], value)) == checker.conforms(value, "date")


@pytest.mark.parametrize(
    "value",
    [
        "2024-02-29T23:59:59.25Z",
        "2024-02-29t00:00:00+05:30",
        "2024-02-30T00:00:00Z",
        "2024-01-01T24:00:00Z",
        "2024-01-01T00:00:60Z",
        "2024-01-01T00:00:00",
    ],
)
def test_date_time_pattern_agrees_with_the_validator(value):
    checker = Draft202012Validator.FORMAT_CHECKER
    assert bool(re.fullmatch(CALENDAR_PATTERNS["date-time"][1:-1], value)) == checker.conforms(
        value, "date-time"
    )
