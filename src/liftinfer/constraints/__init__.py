"""The schema-to-grammar compiler: checks, one dialect, engine profiles, grammars, a cache and limits.

Used by the engine (every request's constraint) and by ``conformance`` (model-free coverage runs).
"""

from liftinfer.constraints.builder import (
    COMPACT_SEPARATORS,
    Constraint,
    ConstraintBuilder,
    GrammarCache,
    Plan,
    allocate_bitmask,
    apply_bitmask,
    check,
    import_xgrammar,
    make_validator,
    plan,
)

__all__ = ["COMPACT_SEPARATORS", "Constraint", "ConstraintBuilder", "GrammarCache", "Plan", "allocate_bitmask",
           "apply_bitmask", "check", "import_xgrammar", "make_validator", "plan"]
