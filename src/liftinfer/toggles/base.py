"""What an optimization toggle is: a named set of changes, returned rather than applied."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Toggle:
    name: str
    description: str = ""
    plugin: str = ""
