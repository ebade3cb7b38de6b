"""Which keywords a grammar engine enforces exactly, and the relaxed schema it compiles instead.

Each grammar engine enforces some JSON Schema keywords exactly while decoding, some approximately and
some not at all; the approximate and silent ones are how engines return output that does not validate.
An :class:`EngineProfile` records, per engine, what was *measured* to be exact (``liftinfer conformance``
over JSONSchemaBench and the JSON-Schema-Test-Suite; see docs/conformance.md). :func:`relax` walks a
normalised schema (see :mod:`liftinfer.constraints.drafts`) with one profile and returns:

- the schema the engine compiles, where every keyword it cannot enforce exactly is replaced by a
  superset (dropped, or ``oneOf`` read as ``anyOf``), so the grammar never forbids a valid value;
- which keywords the grammar enforces, and which only post-validation enforces (with where they are).

A request with ``strict`` (the default) is refused when anything is left to validation only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from liftinfer.constraints import locations
from liftinfer.constraints.disjoint import provably_disjoint, same_value, types_of
from liftinfer.constraints.locations import json_pointer

# Keywords that only constrain values of one JSON type.
TYPE_FAMILIES: dict[str, frozenset[str]] = {
    "string": frozenset({"minLength", "maxLength", "pattern", "format"}),
    "number": frozenset({"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf"}),
    "array": frozenset(
        {
            "items",
            "prefixItems",
            "minItems",
            "maxItems",
            "uniqueItems",
            "contains",
            "minContains",
            "maxContains",
            "unevaluatedItems",
        }
    ),
    "object": frozenset(
        {
            "properties",
            "patternProperties",
            "additionalProperties",
            "required",
            "minProperties",
            "maxProperties",
            "propertyNames",
            "dependentRequired",
            "dependentSchemas",
            "unevaluatedProperties",
        }
    ),
}
FAMILY_OF = {k: family for family, keys in TYPE_FAMILIES.items() for k in keys}

# Neither engine has a grammar for these: they relate parts of a value to each other or negate a schema.
NO_GRAMMAR = frozenset(
    {
        "not",
        "if",
        "then",
        "else",
        "uniqueItems",
        "contains",
        "minContains",
        "maxContains",
        "dependentRequired",
        "dependentSchemas",
        "propertyNames",
        "unevaluatedItems",
        "unevaluatedProperties",
        "$dynamicRef",
        "$recursiveRef",
    }
)
# Regex features that no engine's regex-to-grammar converter handles (ECMAScript has them, automata don't).
_UNSUPPORTED_REGEX = re.compile(r"\(\?<?[=!]|\\[1-9]|\\k<")
_NEEDS_JSON_ESCAPE = re.compile(r'["\\\x00-\x1f\x7f]')


@dataclass(frozen=True)
class EngineProfile:
    """What one grammar engine enforces exactly (measured, not promised by its documentation)."""

    name: str
    formats: frozenset[str]
    # Type-specific keywords are only exact when ``type`` names their type and nothing else.
    needs_single_type: bool = False
    # Only anchored (``^...$``) patterns are exact: the engine matches whole strings, JSON Schema searches.
    anchored_patterns_only: bool = False
    # Neither escapes in property names nor a ``format`` beside a ``pattern``.
    plain_keys_only: bool = False
    # One of pattern / format / min-maxLength per string: xgrammar keeps the first and drops the rest.
    one_string_constraint: bool = False
    unexact: frozenset[str] = frozenset()  # keywords that are never exact in this engine
    multiple_of_integers_only: bool = False
    # min/maxProperties only where every listed property is required.
    property_counts_need_required: bool = False


XGRAMMAR = EngineProfile(
    name="xgrammar",
    formats=frozenset(
        {
            "duration",
            "email",
            "hostname",
            "ipv4",
            "ipv6",
            "uri",
            "uri-reference",
            "uuid",
            "uri-template",
            "json-pointer",
            "relative-json-pointer",
        }
    ),
    needs_single_type=True,
    anchored_patterns_only=True,
    plain_keys_only=True,
    one_string_constraint=True,
    # its regex converter accepts "a01Z" for ^a0(?:\.[0-9]+)?Z$, so no pattern is exact there
    # and its length-limited strings refuse escapes ("\\n" in a string with a minLength)
    unexact=frozenset(
        {"allOf", "pattern", "patternProperties", "minProperties", "maxProperties", "minLength", "maxLength"}
    ),
    multiple_of_integers_only=True,
)
LLGUIDANCE = EngineProfile(
    name="llguidance",
    formats=frozenset({"duration", "email", "hostname", "ipv4", "ipv6", "uri", "uuid"}),
    property_counts_need_required=True,
)
PROFILES = {p.name: p for p in (XGRAMMAR, LLGUIDANCE)}


@dataclass
class Relaxed:
    """One engine's view of a schema: what it compiles and what it leaves to validation."""

    engine: str
    schema: Any
    grammar: set[str] = field(default_factory=set)
    validation_only: dict[str, list[str]] = field(default_factory=dict)  # keyword -> pointers

    @property
    def exact(self) -> bool:
        return not self.validation_only

    def report(self) -> dict[str, Any]:
        return {
            "engine": self.engine,
            "grammar": sorted(self.grammar),
            "validation_only": sorted(self.validation_only),
        }


def relax(schema: Any, profile: EngineProfile, checked_formats: frozenset[str]) -> Relaxed:
    """Walk a normalised schema with one engine's profile (``checked_formats``: what validation checks)."""
    result = Relaxed(profile.name, None)
    walker = _Walker(
        profile, result, checked_formats, schema.get("$defs", {}) if isinstance(schema, dict) else {}
    )
    result.schema = walker.node(schema, ())
    return result


class _Walker:
    def __init__(
        self, profile: EngineProfile, result: Relaxed, checked_formats: frozenset[str], defs: dict[str, Any]
    ) -> None:
        self.profile = profile
        self.result = result
        self.checked_formats = checked_formats
        self.defs = defs

    def node(self, node: Any, path: tuple[str | int, ...]) -> Any:
        if not isinstance(node, dict):
            return node
        node = _narrow_enum(_calendar_pattern(node, self.checked_formats))
        if node is False:
            return False
        out: dict[str, Any] = {}
        for key, value in node.items():
            here = (*path, key)
            verdict = self.verdict(node, key, value)
            if verdict == "annotation":
                continue
            if verdict == "relax":
                self.result.validation_only.setdefault(key, []).append(json_pointer(here))
            elif key != "$defs":
                self.result.grammar.add(key)
            if key == "oneOf" and isinstance(value, list):
                # exact as anyOf when disjoint, else anyOf is the nearest superset
                one_of = [self.node(v, (*here, i)) for i, v in enumerate(value)]
            elif verdict == "grammar":
                out[key] = self.children(key, value, here)
        if "oneOf" in node and isinstance(node["oneOf"], list):
            if "anyOf" in out:  # the schema's own anyOf stays; both must hold
                out["allOf"] = [*out.get("allOf", []), {"anyOf": one_of}]
            else:
                out["anyOf"] = one_of
        return out

    def children(self, key: str, value: Any, here: tuple[str | int, ...]) -> Any:
        if key in locations.MAPS and isinstance(value, dict):
            return {k: self.node(v, (*here, k)) for k, v in value.items()}
        if key in locations.LISTS and key != "type" and isinstance(value, list):
            return [self.node(v, (*here, i)) for i, v in enumerate(value)]
        if key in locations.SINGLE:
            return self.node(value, here)
        return value

    def verdict(self, node: dict[str, Any], key: str, value: Any) -> str:
        """'grammar' (exact), 'relax' (validation only) or 'annotation' (constrains nothing here)."""
        if _trivial(node, key, value):
            return "annotation"
        if key == "format" and value not in self.profile.formats:
            return "relax" if value in self.checked_formats else "annotation"
        if self.profile.one_string_constraint and key in _STRING_CONSTRAINTS:
            kept = next(k for k in _STRING_CONSTRAINTS if k in node)
            if _STRING_CONSTRAINTS[key] != _STRING_CONSTRAINTS[kept]:
                return "relax"
        if key in NO_GRAMMAR or key in self.profile.unexact:
            return "relax"
        if key == "oneOf":
            return "grammar" if provably_disjoint(value, self.defs) else "relax"
        if key in ("pattern", "patternProperties") and not self._patterns_exact(node, key, value):
            return "relax"
        if (
            key == "multipleOf"
            and self.profile.multiple_of_integers_only
            and not (types_of(node) == {"integer"} and isinstance(value, int))
        ):
            return "relax"
        if key in ("minProperties", "maxProperties") and self.profile.property_counts_need_required:
            listed = set(node.get("properties") or {})
            if not listed <= set(node.get("required") or []):
                return "relax"
        if key in ("properties", "required") and self.profile.plain_keys_only:
            names = value if key == "required" else list(value or {})
            if any(isinstance(n, str) and _NEEDS_JSON_ESCAPE.search(n) for n in names):
                return "relax"
            if key == "required" and set(value) - set(node.get("properties") or {}):
                return "relax"  # required names without a property schema are not enforced
        return self._typed(node, key)

    def _typed(self, node: dict[str, Any], key: str) -> str:
        family = FAMILY_OF.get(key)
        if family is None or not self.profile.needs_single_type:
            return "grammar"
        types = types_of(node)
        wanted = {"number", "integer"} if family == "number" else {family}
        return "grammar" if types and types <= wanted else "relax"

    def _patterns_exact(self, node: dict[str, Any], key: str, value: Any) -> bool:
        patterns = [value] if key == "pattern" else list(value or {})
        for pattern in patterns:
            if not isinstance(pattern, str) or _UNSUPPORTED_REGEX.search(pattern):
                return False
            if self.profile.anchored_patterns_only and not _anchored(pattern):
                return False
        return True


# What xgrammar keeps of a string's constraints, first present wins (the lengths go together).
_STRING_CONSTRAINTS = {"pattern": 0, "format": 1, "minLength": 2, "maxLength": 2}
_SIMPLE = frozenset(
    {
        "$ref",
        "allOf",
        "anyOf",
        "oneOf",
        "not",
        "if",
        "then",
        "else",
        "$dynamicRef",
        "$recursiveRef",
        "dependentSchemas",
    }
)


def _narrow_enum(node: dict[str, Any]) -> Any:
    """An enum (or const) beside other keywords, as the enum of the values that pass those keywords.

    Engines enforce ``enum`` and drop its neighbours (``{"enum": ["a"], "type": "object"}`` lets "a"
    through); the narrowed enum means the same and is exact everywhere. ``False`` when nothing is left.
    """
    if ("enum" not in node and "const" not in node) or len(node) == 1 or _SIMPLE & set(node):
        return node
    from jsonschema import Draft202012Validator

    values = [node["const"]] if "const" in node else node.get("enum")
    if not isinstance(values, list):
        return node
    rest = {k: v for k, v in node.items() if k not in ("enum", "const")}
    validator = Draft202012Validator(rest, format_checker=Draft202012Validator.FORMAT_CHECKER)
    kept = [v for v in values if validator.is_valid(v)]
    if "const" in node and "enum" in node:
        kept = [v for v in kept if any(same_value(v, e) and type(v) is type(e) for e in node["enum"])]
    if not kept:
        return False
    return {"const": kept[0]} if "const" in node else {"enum": kept}


# RFC 3339 dates and times as jsonschema checks them (real calendar days, leap years, case-insensitive
# T and Z), written as regular expressions: engines' own format grammars accept February 31st.
_YEAR = r"(?:[0-9]{3}[1-9]|[0-9]{2}[1-9][0-9]|[0-9][1-9][0-9]{2}|[1-9][0-9]{3})"
_LEAP_YEAR = r"(?:[0-9]{2}(?:0[48]|[2468][048]|[13579][26])|(?:0[48]|[2468][048]|[13579][26])00)"
_MONTH_DAY = (
    r"(?:(?:0[13578]|1[02])-(?:0[1-9]|[12][0-9]|3[01])|(?:0[469]|11)-(?:0[1-9]|[12][0-9]|30)"
    r"|02-(?:0[1-9]|1[0-9]|2[0-8]))"
)
_DATE = rf"(?:{_YEAR}-{_MONTH_DAY}|{_LEAP_YEAR}-02-29)"
_TIME = r"(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](?:\.[0-9]+)?(?:[Zz]|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])"
CALENDAR_PATTERNS = {"date": f"^{_DATE}$", "time": f"^{_TIME}$", "date-time": f"^{_DATE}[Tt]{_TIME}$"}


def _calendar_pattern(node: dict[str, Any], checked_formats: frozenset[str]) -> dict[str, Any]:
    fmt = node.get("format")
    if fmt not in CALENDAR_PATTERNS or fmt not in checked_formats or "pattern" in node:
        return node
    return {**{k: v for k, v in node.items() if k != "format"}, "pattern": CALENDAR_PATTERNS[fmt]}


def _trivial(node: dict[str, Any], key: str, value: Any) -> bool:
    """Keywords that cannot reject anything where they stand."""
    if key in ("if", "then", "else"):
        return (key == "if" and not ({"then", "else"} & set(node))) or (key != "if" and "if" not in node)
    if key in ("minContains", "maxContains"):
        return "contains" not in node
    if key == "uniqueItems":
        return value is False or (isinstance(node.get("maxItems"), int) and node["maxItems"] <= 1)
    if key in ("propertyNames", "unevaluatedItems", "unevaluatedProperties", "additionalProperties", "items"):
        return value is True or value == {}
    if key in ("dependentRequired", "dependentSchemas"):
        return not value
    return False


def _anchored(pattern: str) -> bool:
    """``^...$`` around the whole pattern, with no top-level alternation that escapes the anchors."""
    if not (pattern.startswith("^") and pattern.endswith("$") and not pattern.endswith("\\$")):
        return False
    depth = 0
    escaped = False
    in_class = False
    for ch in pattern[1:-1]:
        if escaped:
            escaped = False
        elif ch == "\\":
            escaped = True
        elif in_class:
            in_class = ch != "]"
        elif ch == "[":
            in_class = True
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif ch == "|" and depth == 0:
            return False
    return True
