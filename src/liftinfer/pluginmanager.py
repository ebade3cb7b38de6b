"""The plugin manager: built-ins are plugins too, then entry points of the group ``liftinfer``.

``Plugins`` has one typed method per hook, so the rest of liftinfer never calls ``pm.hook.x(...)`` untyped.
``LIFTINFER_DISABLE_PLUGINS`` (comma-separated) blocks plugins by name, built-in or external; a built-in
is named by its module (``liftinfer.backends.vllm``) or by the module's last part (``vllm``).
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

import pluggy

from liftinfer import hookspecs
from liftinfer.contributions import Contributions
from liftinfer.errors import ConfigError, config_error_from

if TYPE_CHECKING:
    import click

    from liftinfer.backends import Backend
    from liftinfer.config import EngineConfig
    from liftinfer.deploy import DeploymentSpec
    from liftinfer.engine.base import GenerationEngine
    from liftinfer.sources.base import ModelSource
    from liftinfer.targets.base import Target
    from liftinfer.toggles.base import Changes, Toggle

ENTRY_POINT_GROUP = "liftinfer"
DISABLE_ENV = "LIFTINFER_DISABLE_PLUGINS"

DEFAULT_PLUGINS: tuple[str, ...] = (
    "liftinfer.backends.default",
    "liftinfer.backends.transformers",
    "liftinfer.backends.vllm",
    "liftinfer.sources",
    "liftinfer.targets.local",
    "liftinfer.targets.modal",
    "liftinfer.targets.container",
    "liftinfer.toggles.base_image",
    "liftinfer.toggles.compile_cache",
    "liftinfer.toggles.eager",
    "liftinfer.toggles.fast_load",
    "liftinfer.toggles.snapshot",
)

T = TypeVar("T")
log = logging.getLogger("liftinfer")


@dataclass(frozen=True)
class PluginInfo:
    name: str
    version: str
    hooks: tuple[str, ...]
    builtin: bool


def _disabled_from_env() -> set[str]:
    return {n.strip() for n in os.environ.get(DISABLE_ENV, "").split(",") if n.strip()}


class Plugins:
    """Loads plugins and calls their hooks."""

    def __init__(self, *, entry_points: bool = True, disabled: set[str] | None = None) -> None:
        self.pm = pluggy.PluginManager("liftinfer")
        self.pm.add_hookspecs(hookspecs)
        self.disabled = _disabled_from_env() if disabled is None else set(disabled)
        self._builtin: set[str] = set()
        for module_name in DEFAULT_PLUGINS:
            if module_name in self.disabled or module_name.rsplit(".", 1)[-1] in self.disabled:
                continue
            self.pm.register(importlib.import_module(module_name), name=module_name)
            self._builtin.add(module_name)
        if entry_points:
            for name in self.disabled:
                self.pm.set_blocked(name)
            self.pm.load_setuptools_entrypoints(ENTRY_POINT_GROUP)
        self.pm.check_pending()

    # ---- registration ---------------------------------------------------------------------------------

    def register(self, plugin: object, name: str | None = None) -> str:
        registered = self.pm.register(plugin, name=name)
        if registered is None:
            raise ConfigError(f"plugin {name!r} is blocked (listed in {DISABLE_ENV}?)")
        self.pm.check_pending()
        return registered

    def unregister(self, plugin: object | None = None, name: str | None = None) -> None:
        self.pm.unregister(plugin, name=name)

    def describe(self) -> list[PluginInfo]:
        """Every loaded plugin: name, version and the hooks it implements."""
        from liftinfer.version import __version__

        dists = {id(plugin): dist for plugin, dist in self.pm.list_plugin_distinfo()}
        infos = []
        for name, plugin in self.pm.list_name_plugin():
            if plugin is None:
                continue
            hooks = tuple(sorted(c.name for c in self.pm.get_hookcallers(plugin) or []))
            dist = dists.get(id(plugin))
            version = dist.version if dist is not None else __version__ if name in self._builtin else "?"
            infos.append(PluginInfo(name, version, hooks, name in self._builtin))
        return infos

    # ---- collectors -------------------------------------------------------------------------------------

    def _collect(self, hook: str, kind: str) -> dict[str, Any]:
        found: dict[str, Any] = {}
        for impl in reversed(getattr(self.pm.hook, hook).get_hookimpls()):  # registration order
            def register(item: Any, _plugin: str = impl.plugin_name) -> None:
                if item.name in found:
                    raise ConfigError(
                        f"{kind} {item.name!r} is registered twice: by {found[item.name].plugin or '?'} "
                        f"and by {_plugin}; disable one with {DISABLE_ENV}"
                    )
                found[item.name] = _with_plugin(item, _plugin)

            impl.function(**_accepted(impl, {"register": register}))
        return found

    def backends(self) -> dict[str, Backend]:
        return self._collect("liftinfer_register_backends", "backend")

    def targets(self) -> dict[str, Target]:
        return self._collect("liftinfer_register_targets", "target")

    def toggles(self) -> dict[str, Toggle]:
        return self._collect("liftinfer_register_toggles", "toggle")

    def model_sources(self) -> list[ModelSource]:
        sources: list[ModelSource] = []
        self.pm.hook.liftinfer_register_model_sources(register=sources.append)
        return sources

    # ---- choices and contributions --------------------------------------------------------------------

    def select_backend(self, config: EngineConfig) -> str:
        backends = self.backends()
        if config.backend != "auto":
            if config.backend not in backends:
                raise ConfigError(
                    f"unknown backend {config.backend!r}; installed: {', '.join(sorted(backends)) or 'none'}",
                    field="backend",
                )
            return config.backend
        name = self.pm.hook.liftinfer_select_backend(config=config, backends=backends)
        if name is None:
            raise ConfigError("no backend can run here; install one with pip install 'liftinfer[cpu]'")
        return str(name)

    def toggle_changes(self, config: EngineConfig, backend: str | None) -> Changes:
        """The composed changes of the toggles that ``config`` (or their environment switches) turn on."""
        from liftinfer.toggles.base import active, compose

        return compose(active(config, self.toggles()), config, backend)

    def engine_options(self, config: EngineConfig, backend: str, toggles: Changes | None = None) -> dict[str, Any]:
        """Every ``liftinfer_engine_options`` contribution and the switched-on ``toggles``' engine options,
        merged in one place: two that set one key differently are an error naming both."""
        merged = self._merge("liftinfer_engine_options", "engine option", config=config, backend=backend)
        for owner, options in toggles.owners("engine_options") if toggles else ():
            merged.add(owner, options)
        return merged.values

    def environment(self, config: EngineConfig, toggles: Changes | None = None) -> dict[str, str]:
        """``liftinfer_environment`` contributions and the toggles' variables, merged like :meth:`engine_options`."""
        merged = self._merge("liftinfer_environment", "environment variable", config=config)
        for owner, variables in toggles.owners("environment") if toggles else ():
            merged.add(owner, variables)
        return merged.values

    def _merge(self, hook: str, what: str, **kwargs: Any) -> Contributions:
        merged = Contributions(what)
        for impl in reversed(getattr(self.pm.hook, hook).get_hookimpls()):  # registration order
            merged.add(f"plugin {impl.plugin_name}", impl.function(**_accepted(impl, kwargs)))
        return merged

    def deployment(self, spec: DeploymentSpec, config: EngineConfig) -> None:
        self.pm.hook.liftinfer_deployment(spec=spec, config=config)

    def engine_ready(self, engine: GenerationEngine) -> None:
        self.pm.hook.liftinfer_engine_ready(engine=engine)

    def engine_shutdown(self, engine: GenerationEngine) -> None:
        self.pm.hook.liftinfer_engine_shutdown(engine=engine)

    def register_commands(self, cli: click.Group) -> None:
        self.pm.hook.liftinfer_register_commands(cli=cli)


def _accepted(impl: Any, kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """Only the arguments an implementation asks for (pluggy's opt-in arguments)."""
    return {name: kwargs[name] for name in impl.argnames if name in kwargs}


def _with_plugin(item: T, plugin: str) -> T:
    if getattr(item, "plugin", None):
        return item
    with contextlib.suppress(AttributeError, TypeError):  # objects without slots for it keep none
        object.__setattr__(item, "plugin", plugin)
    return item


_PLUGINS: Plugins | None = None


def get_plugins() -> Plugins:
    """The process-wide plugin manager, loaded on first use."""
    global _PLUGINS
    if _PLUGINS is None:
        _PLUGINS = Plugins()
    return _PLUGINS


def reset_plugins(plugins: Plugins | None = None) -> None:
    """Replace (or forget) the process-wide plugin manager; tests use it after changing the environment."""
    global _PLUGINS
    _PLUGINS = plugins


def load_engine(
    config: EngineConfig | None = None, *, plugins: Plugins | None = None, load: bool = True, **overrides: Any
) -> GenerationEngine:
    """Create the engine the configuration asks for (``backend="auto"`` lets plugins choose) and load it."""
    from liftinfer.config import EngineConfig

    plugins = plugins or get_plugins()
    if config is None:
        from pydantic import ValidationError

        try:
            config = EngineConfig(**overrides)
        except ValidationError as exc:
            raise config_error_from(list(exc.errors())) from None
    elif overrides:
        config = config.model_copy(update=overrides)
    name = plugins.select_backend(config)
    backend = plugins.backends()[name]
    toggles = plugins.toggle_changes(config, name)
    for warning in toggles.warnings:
        log.warning(warning)
    # the user's own --option values win: they are what was asked for by name
    options = {**plugins.engine_options(config, name, toggles), **config.engine_options}
    # before anything touches CUDA or imports a backend: some variables are read once, at start-up
    os.environ.update(plugins.environment(config, toggles))
    reason = backend.unavailable()
    if reason is not None:
        raise ConfigError(f"backend {name!r} cannot run here: {reason}", field="backend")
    engine = backend.load()(config, plugins=plugins, options=options)
    engine.toggles = list(toggles.toggles)
    return engine.load() if load else engine
