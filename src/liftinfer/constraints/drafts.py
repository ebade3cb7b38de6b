"""One dialect for the grammar engines: any draft's schema rewritten to self-contained draft 2020-12.

Users send draft-04 to 2020-12 schemas; the grammar engines understand one dialect, and each of them only
some of its ``$ref`` forms. :func:`normalise` rewrites a schema so that both see the same thing the
schema's own draft means:

- keywords the schema's draft does not know are dropped (a validator ignores them too), as are
  annotations (``title``, ``description``, ``default``...) and identifiers (``id``, ``$id``, ``$anchor``);
- draft-04 boolean ``exclusiveMaximum``/``exclusiveMinimum`` become the numeric form;
- array-form ``items`` and ``additionalItems`` (up to 2019-09) become ``prefixItems`` and ``items``;
- ``dependencies`` (up to draft-07) becomes ``dependentRequired`` / ``dependentSchemas``;
- keywords next to a ``$ref`` are dropped up to draft-07, where ``$ref`` overrides its siblings;
- every local ``$ref`` (JSON pointer, ``$id``-relative, ``$anchor``) is resolved and its target hoisted
  into the root's ``$defs``, so the engines only meet ``#/$defs/<name>``.

A ``$ref`` cycle that never descends into the instance (``a`` is ``allOf: [b]``, ``b`` is ``$ref: a``)
is refused: no validator or grammar can evaluate it. So is recursion with no way out (a node whose
required ``next`` is another node): no finite value fits, and decoding would run until ``max_tokens``.
The result is only for the grammar engines:
post-validation always uses the user's original schema with its own draft's validator.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from liftinfer.constraints import locations
from liftinfer.constraints.locations import json_pointer
from liftinfer.constraints.refs import DocumentRefs
from liftinfer.constraints.schema import ANNOTATIONS
from liftinfer.errors import UnsatisfiableSchema

# Draft names as the validators' meta-schema URIs give them.
_DRAFTS = ("draft-03", "draft-04", "draft-06", "draft-07", "2019-09", "2020-12")
# Up to draft-07 ``$ref`` overrides every keyword beside it.
REF_OVERRIDES_SIBLINGS = frozenset({"draft-03", "draft-04", "draft-06", "draft-07"})

# Keywords that keep their value as it is.
VALUE_KEYWORDS = frozenset(
    {
        "type",
        "enum",
        "const",
        "required",
        "minLength",
        "maxLength",
        "pattern",
        "format",
        "minimum",
        "maximum",
        "exclusiveMinimum",
        "exclusiveMaximum",
        "multipleOf",
        "minItems",
        "maxItems",
        "uniqueItems",
        "minContains",
        "maxContains",
        "minProperties",
        "maxProperties",
        "dependentRequired",
        "$dynamicRef",
        "$recursiveRef",
    }
)
@dataclass
class Normalised:
    """A schema rewritten for the grammar engines, and what the rewrite found on the way."""

    schema: Any
    draft: str
    refs: int = 0
    dropped: list[str] = field(default_factory=list)  # pointers of keywords the draft does not know


def draft_of(schema: Any) -> tuple[str, Any]:
    """The schema's draft name and its jsonschema validator class (2020-12 when ``$schema`` is absent)."""
    from jsonschema.validators import Draft202012Validator, validator_for

    cls = (
        validator_for(schema, default=Draft202012Validator)
        if isinstance(schema, dict)
        else Draft202012Validator
    )
    uri = str(cls.META_SCHEMA.get("$schema", ""))
    name = next((d for d in _DRAFTS if d in uri), "2020-12")
    return name, cls


def normalise(schema: Any) -> Normalised:
    """Rewrite ``schema`` (any draft) to self-contained 2020-12 with every local ``$ref`` under ``$defs``."""
    draft, cls = draft_of(schema)
    if not isinstance(schema, dict):
        return Normalised(schema, draft)
    known = set(cls.VALIDATORS)
    if "if" in known:  # jsonschema evaluates then/else inside its "if"
        known |= {"then", "else"}
    if "maximum" in known:  # draft-04 evaluates its boolean exclusiveMaximum inside maximum
        known |= {"exclusiveMaximum", "exclusiveMinimum"}
    if "contains" in known and draft in ("2019-09", "2020-12"):
        known |= {"minContains", "maxContains"}
    rewriter = _Rewriter(schema, draft, frozenset(known))
    root = rewriter.rewrite(schema, rewriter.root_resolver, ())
    if rewriter.defs:
        if not isinstance(root, dict):  # pragma: no cover - a dict schema rewrites to a dict
            root = {"allOf": [root]}
        root = {**root, "$defs": rewriter.defs}
        _refuse_endless_recursion(root)
    return Normalised(root, draft, rewriter.ref_count, rewriter.dropped)


class _Rewriter:
    def __init__(self, schema: dict[str, Any], draft: str, known: frozenset[str]) -> None:
        self.draft = draft
        self.known = known
        self.defs: dict[str, Any] = {}
        self.names: dict[int, str] = {}  # id() of a target in the user's schema -> its name in $defs
        self.ref_count = 0
        self.dropped: list[str] = []
        self.refs = DocumentRefs(schema)
        self.root_resolver = self.refs.root

    def rewrite(self, node: Any, resolver: Any, path: tuple[str | int, ...]) -> Any:
        if not isinstance(node, dict):
            return node
        if path:
            resolver = self.refs.enter(resolver, node)
        if "$ref" in node and self.draft in REF_OVERRIDES_SIBLINGS:
            node = {"$ref": node["$ref"]}
        out: dict[str, Any] = {}
        for key, value in node.items():
            here = (*path, key)
            if key == "$ref":
                out["$ref"] = self._ref(value, resolver, here)
            elif key not in self.known:
                if key not in _SILENT:
                    self.dropped.append(json_pointer(here))
            elif key in VALUE_KEYWORDS:
                self._value(out, node, key, value)
            elif key == "items":
                self._items(out, node, value, resolver, here)
            elif key == "dependencies" and isinstance(value, dict):
                self._dependencies(out, value, resolver, here)
            elif key in _NOT_REWRITTEN:
                continue
            elif key in locations.MAPS and isinstance(value, dict):
                out[key] = {k: self.rewrite(v, resolver, (*here, k)) for k, v in value.items()}
            elif key in locations.LISTS and isinstance(value, list):
                out[key] = [self.rewrite(v, resolver, (*here, i)) for i, v in enumerate(value)]
            elif key in locations.SINGLE:
                out[key] = self.rewrite(value, resolver, here)
        return out

    def _value(self, out: dict[str, Any], node: dict[str, Any], key: str, value: Any) -> None:
        if key in ("exclusiveMaximum", "exclusiveMinimum") and isinstance(value, bool):
            bound = "maximum" if key == "exclusiveMaximum" else "minimum"
            if value and bound in node:  # draft-04: the boolean makes maximum/minimum exclusive
                out[key] = node[bound]
            return
        if key in ("maximum", "minimum") and node.get(f"exclusive{key.capitalize()}") is True:
            return
        out[key] = value

    def _items(
        self,
        out: dict[str, Any],
        node: dict[str, Any],
        value: Any,
        resolver: Any,
        here: tuple[str | int, ...],
    ) -> None:
        if isinstance(value, list):  # up to 2019-09: a tuple, with additionalItems for the rest
            out["prefixItems"] = [self.rewrite(v, resolver, (*here, i)) for i, v in enumerate(value)]
            if "additionalItems" in node:
                out["items"] = self.rewrite(
                    node["additionalItems"], resolver, (*here[:-1], "additionalItems")
                )
        else:
            out["items"] = self.rewrite(value, resolver, here)

    def _dependencies(
        self, out: dict[str, Any], value: dict[str, Any], resolver: Any, here: tuple[str | int, ...]
    ) -> None:
        for name, dependency in value.items():
            if isinstance(dependency, list):
                out.setdefault("dependentRequired", {})[name] = dependency
            else:
                schemas = out.setdefault("dependentSchemas", {})
                schemas[name] = self.rewrite(dependency, resolver, (*here, name))

    def _ref(self, ref: Any, resolver: Any, here: tuple[str | int, ...]) -> str:
        self.ref_count += 1
        resolved = self.refs.lookup(ref, json_pointer(here[:-1]), resolver)
        target = resolved.contents
        name = self.names.get(id(target))
        if name is None:
            name = self._name_for(ref)
            self.names[id(target)] = name
            self.defs[name] = True  # placeholder: a cycle back to this target finds the name
            self.defs[name] = self.rewrite(target, resolved.resolver, ("$defs", name))
        return f"#/$defs/{name}"

    def _name_for(self, ref: str) -> str:
        tail = ref.rstrip("/").rsplit("/", 1)[-1].split("#")[-1] or "root"
        base = "".join(c if c.isalnum() or c in "-_." else "_" for c in tail)[:40] or "root"
        name, n = base, 1
        while name in self.defs:
            n += 1
            name = f"{base}_{n}"
        return name


# Subschema locations the rewrite leaves out: additionalItems goes with items (see _items); draft-03's
# extends and disallow are left to validation (the grammar accepts a superset without them).
_NOT_REWRITTEN = frozenset({"additionalItems", "extends", "disallow"})
# Keywords dropped without a note: identifiers, annotations and locations every draft has.
_SILENT = ANNOTATIONS | {"additionalItems"}


_SCALARS = frozenset({"string", "number", "integer", "boolean", "null"})


def _refuse_endless_recursion(root: dict[str, Any]) -> None:
    """Raise UnsatisfiableSchema where every value must hold another value of the same kind, without end.

    Fixpoints over ``$defs``: a definition has a finite value once one of its alternatives needs only
    definitions known to have one. The rules only ever say "needs" where JSON Schema does (a required
    property, the first ``minItems`` items, ``allOf``, every ``anyOf`` branch failing), so what they refuse
    has no finite value; anything they do not model counts as satisfiable. A schema that fails without
    any recursion (a ``$ref`` to ``false``) is left to the other checks and the grammar engines' reasons.
    """
    defs: dict[str, Any] = root["$defs"]
    body = {k: v for k, v in root.items() if k != "$defs"}
    users: dict[str, set[str]] = {name: set() for name in defs}
    for name, definition in defs.items():
        for target in _referenced(definition) & users.keys():
            users[target].add(name)

    # least fixpoint: what is shown to end, starting from nothing
    shown = _Finite(defs, set())
    pending = list(defs)
    while pending:  # each definition is looked at again only when one it uses turns out to end
        name = pending.pop()
        if name not in shown.known and shown.ends(defs[name]):
            shown.known.add(name)
            pending.extend(users[name] - shown.known)
    if shown.ends(body):
        return
    # greatest fixpoint: what fails even if every recursion could end
    possible = _Finite(defs, set(defs))
    pending = list(defs)
    while pending:
        name = pending.pop()
        if name in possible.known and not possible.ends(defs[name]):
            possible.known.discard(name)
            pending.extend(users[name] & possible.known)
    if not possible.ends(body):
        return  # unsatisfiable without recursion: the grammar engines say why
    endless = sorted(possible.known - shown.known)
    raise UnsatisfiableSchema(
        "schema is unsatisfiable: it recurses without a way out, so no finite value fits (every value of "
        f"{', '.join(endless)} must contain another); make the recursion optional somewhere: leave it out of "
        "'required', allow fewer items, or add an anyOf branch that ends",
        details={"endless": endless},
    )


@dataclass
class _Finite:
    """Whether a subschema has a finite value, taking the definitions in ``known`` to have one."""

    defs: dict[str, Any]
    known: set[str]

    def ends(self, node: Any) -> bool:
        if not isinstance(node, dict):
            return node is not False
        if "const" in node or "enum" in node:
            return True
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/$defs/"):
            name = ref.removeprefix("#/$defs/")
            if name in self.defs and name not in self.known:
                return False
        if not all(self.ends(sub) for sub in _list(node.get("allOf"))):
            return False
        for key in ("anyOf", "oneOf"):
            branches = _list(node.get(key))
            if branches and not any(self.ends(sub) for sub in branches):
                return False
        types = node.get("type")
        kinds = {types} if isinstance(types, str) else set(types) if isinstance(types, list) else None
        if kinds is None or kinds & _SCALARS:
            return True
        return ("object" in kinds and self._object_ends(node)) or ("array" in kinds and self._array_ends(node))

    def _object_ends(self, node: dict[str, Any]) -> bool:
        required, properties = node.get("required"), node.get("properties")
        if not isinstance(required, list) or not isinstance(properties, dict):
            return True
        return all(self.ends(properties[name]) for name in required if isinstance(name, str) and name in properties)

    def _array_ends(self, node: dict[str, Any]) -> bool:
        least = node.get("minItems", 0)
        least = least if isinstance(least, int) and not isinstance(least, bool) else 0
        prefix = _list(node.get("prefixItems"))
        if not all(self.ends(sub) for sub in prefix[:least]):
            return False
        items = node.get("items")
        if least > len(prefix) and items is not None and not self.ends(items):
            return False
        contains = node.get("contains")
        return contains is None or node.get("minContains", 1) == 0 or self.ends(contains)


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _referenced(node: Any) -> set[str]:
    """The ``$defs`` names a subschema refers to anywhere inside it. (Not ``iter_subschemas``: the paths
    it builds for every node doubled this check's time on the corpus's largest schemas.)"""
    found: set[str] = set()
    stack = [node]
    while stack:
        here = stack.pop()
        if isinstance(here, dict):
            ref = here.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                found.add(ref.removeprefix("#/$defs/"))
            stack.extend(v for k, v in here.items() if k not in ("enum", "const"))
        elif isinstance(here, list):
            stack.extend(here)
    return found
