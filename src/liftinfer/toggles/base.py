"""What an optimization toggle is, and how switched-on toggles compose.

A toggle returns its :class:`Changes` (engine options, environment, DeploymentSpec edits) instead of
applying them. :func:`compose` merges the changes of every active toggle in name order: two toggles that
set one key to different values are an error naming both; a legal but pointless pair is a warning.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, ClassVar

from liftinfer.contributions import Contributions
from liftinfer.errors import ConfigError

if TYPE_CHECKING:
    from liftinfer.config import EngineConfig
    from liftinfer.deploy import DeploymentSpec


@dataclass(frozen=True)
class Changes:
    """What a toggle (or several, composed) changes. ``deployment`` maps DeploymentSpec paths to values."""

    engine_options: Mapping[str, Any] = field(default_factory=dict)
    environment: Mapping[str, str] = field(default_factory=dict)
    deployment: Mapping[str, Any] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()
    toggles: tuple[str, ...] = ()
    # each toggle's own changes, for merges that name the toggle (engine options and environment meet the
    # hooks' contributions in the plugin manager)
    each: tuple[tuple[str, Changes], ...] = ()

    def owners(self, part: str) -> list[tuple[str, Mapping[str, Any]]]:
        """``(owner, mapping)`` for one part ("engine_options", "environment", "deployment"), per toggle."""
        return [(f"toggle {name!r}", getattr(changes, part)) for name, changes in self.each]

    def apply_to(self, spec: DeploymentSpec) -> DeploymentSpec:
        for path, value in self.deployment.items():
            spec.apply(path, value)
        return spec


class Toggle:
    """An optimization users switch on by name (``--toggle NAME``, config, ``LIFTINFER_TOGGLES``).

    Subclasses set ``name``/``description`` and override :meth:`changes`. ``env_switches`` lists
    environment variables that also switch the toggle on when set to ``1``; ``pointless_with`` maps other
    toggle names to the warning shown when both are on.
    """

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    env_switches: ClassVar[tuple[str, ...]] = ()
    pointless_with: ClassVar[Mapping[str, str]] = {}
    plugin: str = ""

    def changes(self, config: EngineConfig, backend: str | None) -> Changes:
        """The toggle's changes for this configuration (``backend`` is None when only deploying)."""
        return Changes()

    def switched_on_by_env(self) -> bool:
        return any(os.environ.get(var, "").strip().lower() in ("1", "true", "yes") for var in self.env_switches)


def active(config: EngineConfig, available: Mapping[str, Toggle]) -> list[Toggle]:
    """The toggles switched on by the configuration or by their environment switches, in name order."""
    unknown = [n for n in config.toggles if n not in available]
    if unknown:
        raise ConfigError(
            f"unknown toggle {unknown[0]!r}; available: {', '.join(sorted(available)) or 'none'}", field="toggles"
        )
    names = set(config.toggles) | {n for n, t in available.items() if t.switched_on_by_env()}
    return [available[n] for n in sorted(names)]


def compose(toggles: Iterable[Toggle], config: EngineConfig, backend: str | None) -> Changes:
    """Merge the toggles' changes; conflicting values are an error that names both toggles."""
    toggles = sorted(toggles, key=lambda t: t.name)
    names = {t.name for t in toggles}
    each = tuple((t.name, t.changes(config, backend)) for t in toggles)
    merged = Changes(each=each)
    parts = {part: Contributions(what) for part, what in _PARTS.items()}
    warnings: list[str] = []
    for (name, changes), toggle in zip(each, toggles, strict=True):
        for part, contributions in parts.items():
            contributions.add(f"toggle {name!r}", getattr(changes, part))
        warnings.extend(changes.warnings)
        for other, why in toggle.pointless_with.items():
            pair = " and ".join(repr(n) for n in sorted((toggle.name, other)))
            if other in names and not any(w.startswith(f"toggles {pair}") for w in warnings):
                warnings.append(f"toggles {pair} together: {why}")
    return replace(merged, engine_options=parts["engine_options"].values, environment=parts["environment"].values,
                   deployment=parts["deployment"].values, warnings=tuple(dict.fromkeys(warnings)),
                   toggles=tuple(t.name for t in toggles))


_PARTS = {"engine_options": "engine option", "environment": "environment variable", "deployment": "deployment setting"}
