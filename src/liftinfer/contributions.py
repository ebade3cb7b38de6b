"""Where settings from several owners meet: toggles, hook implementations and the user's edits.

Every merge of such settings (engine options, environment variables, deployment edits) goes through
:class:`Contributions`, so that one rule and one error hold everywhere: two owners that set one key to
different values are a :class:`~liftinfer.errors.ConfigError` naming both; a key ending in ``+`` extends a
list, and such extensions add up instead of conflicting.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from liftinfer.errors import ConfigError


class Contributions:
    """Settings of one kind (``what``: "engine option", "environment variable", ...), merged from owners."""

    def __init__(self, what: str) -> None:
        self.what = what
        self.values: dict[str, Any] = {}
        self.owners: dict[str, str] = {}

    def add(self, owner: str, contribution: Mapping[str, Any] | None) -> Contributions:
        """Merge ``owner``'s settings (``owner`` as the error should name it: "toggle 'eager'", "plugin x")."""
        for key, value in (contribution or {}).items():
            if key.endswith("+"):
                extra = value if isinstance(value, list) else [value]
                self.values[key] = [*self.values.get(key, []), *extra]
                continue
            if key in self.values and self.values[key] != value:
                raise ConfigError(
                    f"{self.what} {key!r} is set to {self.values[key]!r} by {self.owners[key]} and to {value!r} "
                    f"by {owner}; drop one of them", field=key)
            self.values[key] = value
            self.owners[key] = owner
        return self
