"""DeploymentSpec: the neutral description of a deployment that toggles edit and targets render."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class DeploymentSpec:
    name: str = "liftinfer"
    env: dict[str, str] = field(default_factory=dict)
    extras: dict[str, Any] = field(default_factory=dict)
