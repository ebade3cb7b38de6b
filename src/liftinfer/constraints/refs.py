"""The one reference resolver: ``$ref``, ``$dynamicRef`` and ``$recursiveRef`` inside the schema document.

Every pass that follows a reference (the request checks, the draft rewriter, the in-place cycle check,
output validation, conformance) resolves through here, and nothing here ever retrieves a document: a
reference to ``http://...``, ``file://...`` or any other document is refused (422 ``unresolvable_ref``
naming it) instead of fetched or opened. Validators get :func:`validation_registry`, which holds the
meta-schemas jsonschema ships and retrieves nothing either.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from liftinfer.constraints.locations import Path, json_pointer, subschemas
from liftinfer.errors import SchemaError, UnresolvableRef

REF_KEYWORDS = ("$ref", "$dynamicRef", "$recursiveRef")
ROOT_URI = "urn:liftinfer:schema"


def _refuse_retrieval(uri: str) -> Any:
    from referencing.exceptions import NoSuchResource

    raise NoSuchResource(ref=uri)  # type: ignore[call-arg]


@functools.cache
def validation_registry() -> Any:
    """The meta-schemas of every draft, and no retrieval of anything else: for jsonschema validators."""
    from jsonschema_specifications import REGISTRY
    from referencing import Registry

    return REGISTRY.combine(Registry(retrieve=_refuse_retrieval))  # type: ignore[call-arg]


@dataclass(frozen=True)
class Located:
    """An object subschema, where it sits, and the resolver for references written inside it."""

    path: Path
    schema: dict[str, Any]
    resolver: Any


class DocumentRefs:
    """References of one schema document, resolved against the document alone."""

    def __init__(self, schema: dict[str, Any]) -> None:
        from referencing import Registry
        from referencing.jsonschema import DRAFT202012, specification_with

        dialect = schema.get("$schema")
        self.spec = specification_with(dialect, default=DRAFT202012) if isinstance(dialect, str) else DRAFT202012
        root_id = self.spec.id_of(schema)
        self.root_uri = root_id if isinstance(root_id, str) and root_id else ROOT_URI
        resource = self.spec.create_resource(schema)
        registry = Registry(retrieve=_refuse_retrieval).with_resource(self.root_uri, resource)  # type: ignore[call-arg]
        self.root = registry.crawl().resolver(base_uri=self.root_uri)
        self.schema = schema

    def enter(self, resolver: Any, node: dict[str, Any]) -> Any:
        """The resolver inside ``node``: a node with its own ``$id`` (``id`` up to draft-04) is a new base."""
        if isinstance(self.spec.id_of(node), str):
            return resolver.in_subresource(self.spec.create_resource(node))
        return resolver

    def lookup(self, ref: Any, where: str, resolver: Any = None, keyword: str = "$ref") -> Any:
        """The resolved reference (``.contents``, ``.resolver``); UnresolvableRef naming it where it does not
        resolve inside this document."""
        from referencing.exceptions import Unresolvable

        if not isinstance(ref, str):
            raise SchemaError(f"{keyword} at {where} must be a string", details={"path": where})
        try:
            return (resolver or self.root).lookup(ref)
        except Unresolvable:
            raise unresolvable(ref, where, keyword, self.root_uri) from None

    def walk(self) -> Iterator[Located]:
        """Every object subschema with the resolver that applies inside it, depth first."""
        stack: list[tuple[Path, Any, Any]] = [((), self.schema, self.root)]
        while stack:
            path, node, resolver = stack.pop()
            if not isinstance(node, dict):
                continue
            if path:
                resolver = self.enter(resolver, node)
            yield Located(path, node, resolver)
            stack.extend(reversed([((*path, *rel), sub, resolver) for rel, sub in subschemas(node)]))

    def check(self) -> int:
        """Resolve every reference in the document; raise UnresolvableRef for the first that does not.
        Returns the number of references."""
        count = 0
        for located in self.walk():
            for keyword in REF_KEYWORDS:
                if keyword in located.schema:
                    count += 1
                    where = json_pointer(located.path)
                    self.lookup(located.schema[keyword], where, located.resolver, keyword)
        return count


def unresolvable(ref: str, where: str, keyword: str = "$ref", root_uri: str = ROOT_URI) -> UnresolvableRef:
    """The error for a reference that does not resolve inside the schema document."""
    inside = ref.startswith("#") or ref.startswith(root_uri)
    why = ("no such location in the schema" if inside else
           "it points outside the schema document, and references outside it are not fetched or opened")
    return UnresolvableRef(f"{keyword} {ref!r} at {where} does not resolve: {why}",
                           details={"path": where, "ref": ref})

