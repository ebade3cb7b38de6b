"""Every hook liftinfer calls. Built-in backends, model sources, targets and toggles use these same hooks.

Hooks are called with keyword arguments only; an implementation may accept any subset of a hook's
parameters. ``docs/plugins.md`` documents each one, and a test keeps the two in step.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from liftinfer.markers import hookspec

if TYPE_CHECKING:
    import click

    from liftinfer.backends import Backend
    from liftinfer.config import EngineConfig
    from liftinfer.deploy import DeploymentSpec
    from liftinfer.engine.base import GenerationEngine
    from liftinfer.sources.base import ModelSource
    from liftinfer.targets.base import Target
    from liftinfer.toggles.base import Toggle



@hookspec
def liftinfer_register_backends(register: Callable[[Backend], None]) -> None:
    """Register generation backends.

    :param register: call it with a :class:`liftinfer.backends.Backend` for each backend the plugin provides.
    :return: nothing; every implementation is called.

    .. versionadded:: 0.1
    """


@hookspec
def liftinfer_register_model_sources(register: Callable[[ModelSource], None]) -> None:
    """Register model sources (where a model spec such as ``smollm2`` or ``org/name`` comes from).

    :param register: call it with an object that has ``name`` and
        ``resolve(spec, cache) -> ResolvedModel | None``; sources are asked in registration order
        (``tryfirst``/``trylast`` on the implementation change it) and the first non-None answer wins.
    :return: nothing; every implementation is called.

    .. versionadded:: 0.1
    """


@hookspec
def liftinfer_register_targets(register: Callable[[Target], None]) -> None:
    """Register deployment targets (local, container, Modal, ...).

    :param register: call it with a :class:`liftinfer.targets.base.Target` for each target.
    :return: nothing; every implementation is called.

    .. versionadded:: 0.1
    """


@hookspec
def liftinfer_register_toggles(register: Callable[[Toggle], None]) -> None:
    """Register optimization toggles that users switch on by name.

    :param register: call it with a :class:`liftinfer.toggles.base.Toggle` for each toggle.
    :return: nothing; every implementation is called.

    .. versionadded:: 0.1
    """


@hookspec(firstresult=True)
def liftinfer_select_backend(config: EngineConfig, backends: Mapping[str, Backend]) -> str | None:
    """Choose the backend when the configuration says ``backend="auto"``.

    :param config: the engine configuration.
    :param backends: the registered backends by name.
    :return: a backend name, or None to leave the choice to the next implementation. The first
        non-None answer wins (``firstresult``); the built-in default is ``trylast``.

    .. versionadded:: 0.1
    """


@hookspec
def liftinfer_engine_options(config: EngineConfig, backend: str) -> Mapping[str, Any] | None:
    """Contribute backend engine options (for example ``enforce_eager`` for vLLM).

    :param config: the engine configuration.
    :param backend: the name of the backend about to be created.
    :return: a mapping of options, or None. Mappings from all implementations are merged; two that
        set one key to different values are an error naming both plugins.

    .. versionadded:: 0.1
    """


@hookspec
def liftinfer_environment(config: EngineConfig) -> Mapping[str, str] | None:
    """Contribute environment variables the engine process needs (cache dirs, feature flags).

    :param config: the engine configuration.
    :return: a mapping of variable names to values, or None; merged like ``liftinfer_engine_options``.

    .. versionadded:: 0.1
    """


@hookspec
def liftinfer_deployment(spec: DeploymentSpec, config: EngineConfig) -> None:
    """Edit a deployment spec before a target renders it (volumes, image steps, GPU, scaling).

    :param spec: the :class:`liftinfer.deploy.DeploymentSpec` being built; edit it in place.
    :param config: the engine configuration the deployment will serve.
    :return: nothing; every implementation is called.

    .. versionadded:: 0.1
    """


@hookspec
def liftinfer_engine_ready(engine: GenerationEngine) -> None:
    """Called once an engine has loaded, before it serves its first request.

    :param engine: the loaded engine.
    :return: nothing; every implementation is called.

    .. versionadded:: 0.1
    """


@hookspec
def liftinfer_engine_shutdown(engine: GenerationEngine) -> None:
    """Called when an engine closes, before its backend releases the model.

    :param engine: the engine being closed.
    :return: nothing; every implementation is called.

    .. versionadded:: 0.1
    """


@hookspec
def liftinfer_register_commands(cli: click.Group) -> None:
    """Add commands to the ``liftinfer`` command line.

    :param cli: the top-level click group; call ``cli.add_command(...)``.
    :return: nothing; every implementation is called.

    .. versionadded:: 0.1
    """
