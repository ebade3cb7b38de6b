"""The Modal target: GPUs that scale to zero, from one command.

Every action renders the DeploymentSpec as a standalone app file (:mod:`liftinfer.targets.modal_source`):
``export`` writes it, ``serve`` runs it ephemerally (like ``modal serve``), ``deploy`` deploys it (like
``modal deploy``). Both of those check for Modal credentials before touching the network, and turn
Modal's errors into one-line :class:`TargetError` messages.
"""

from __future__ import annotations

import contextlib
import importlib.util
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

from liftinfer.deploy import build_spec
from liftinfer.errors import MissingDependency, TargetError
from liftinfer.markers import hookimpl
from liftinfer.targets import modal_source
from liftinfer.targets.base import Target

if TYPE_CHECKING:
    from liftinfer.config import EngineConfig, ServeConfig
    from liftinfer.deploy import DeploymentSpec
    from liftinfer.pluginmanager import Plugins

MODULE_NAME = "liftinfer_modal_app"
NO_CREDENTIALS = ("no Modal credentials found: run `modal token new` (or set MODAL_TOKEN_ID and "
                  "MODAL_TOKEN_SECRET) and try again")


def require_modal() -> ModuleType:
    """The ``modal`` package, or a MissingDependency naming the extra that brings it."""
    try:
        import modal
    except ImportError:
        raise MissingDependency("modal", "modal", "the modal target") from None
    return modal


def credentials_error() -> str | None:
    """None when a Modal token is configured (environment or ~/.modal.toml), else what to do about it."""
    require_modal()
    from modal.config import config

    try:
        if config.get("token_id") and config.get("token_secret"):
            return None
    except Exception as exc:  # a broken ~/.modal.toml
        return f"cannot read the Modal configuration: {exc}"
    return NO_CREDENTIALS


class ModalTarget(Target):
    name = "modal"
    description = "Modal: GPU containers that scale to zero (serve ephemerally, deploy, export app.py)"

    # ---- rendering --------------------------------------------------------------------------------------

    def source(self, spec: DeploymentSpec, engine: EngineConfig, filename: str = "app.py") -> str:
        return modal_source.render(spec, self.base_image(spec, engine), filename)

    def base_image(self, spec: DeploymentSpec, engine: EngineConfig) -> str | None:
        """``image.base`` as Modal can use it: an image id (from build-base), or a registry reference."""
        from liftinfer.targets.common import recorded_base_image

        base = spec.image.base
        if base is None or base.startswith("im-"):
            return base
        recorded = recorded_base_image(engine.cache_dir, base, self.name)
        if recorded:
            return recorded
        if "/" not in base:
            raise TargetError(f"base image {base!r} has not been built for Modal: run `liftinfer build-base "
                              "--target modal` first, or set LIFTINFER_BASE_IMAGE to a registry reference")
        return base

    def load(self, spec: DeploymentSpec, engine: EngineConfig, directory: Path) -> ModuleType:
        """Write the app file into ``directory`` and import it: the module holds ``app`` and the class."""
        path = directory / f"{MODULE_NAME}.py"
        path.write_text(self.source(spec, engine, path.name), encoding="utf-8")
        return import_app(path)

    # ---- actions ----------------------------------------------------------------------------------------

    def export(self, spec: DeploymentSpec, engine: EngineConfig, out: Path) -> Path:
        require_modal()
        if out.suffix != ".py" or not out.stem.isidentifier():
            raise TargetError(f"{out}: the app file must be a .py file named like a module (e.g. app.py)")
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(self.source(spec, engine, out.name), encoding="utf-8")
        return out

    def serve(self, engine: EngineConfig, serve: ServeConfig, plugins: Plugins) -> None:
        self.run_ephemeral(build_spec(engine, serve, plugins), engine, wait=_wait_for_interrupt)

    def run_ephemeral(self, spec: DeploymentSpec, engine: EngineConfig,
                      wait: Callable[[], None]) -> list[str]:
        """Run the app until ``wait`` returns (Ctrl-C for ``serve``), printing the endpoint URLs."""
        with self._app("serve", spec, engine) as module, module.app.run():
            urls = web_urls(module)
            _announce(urls, spec, ephemeral=True)
            wait()
        return urls

    def deploy(self, spec: DeploymentSpec, engine: EngineConfig) -> list[str]:
        with self._app("deploy", spec, engine) as module:
            module.app.deploy(name=spec.name)
            urls = web_urls(module)
        _announce(urls, spec, ephemeral=False)
        return urls

    def prime(self, spec: DeploymentSpec, engine: EngineConfig) -> dict[str, Any]:
        """Run the app's ``prime`` function once (ephemerally): it fills the primed volumes and commits them."""
        if not any(volume.primed for volume in spec.volumes.values()):
            raise TargetError("nothing to prime: no volume of this deployment is primed "
                              "(switch on a toggle that keeps caches, e.g. --toggle compile-cache)")
        with self._app("prime", spec, engine) as module, module.app.run():
            report: dict[str, Any] = getattr(module, modal_source.PRIME_FUNCTION).remote()
        return report

    @contextlib.contextmanager
    def _app(self, action: str, spec: DeploymentSpec, engine: EngineConfig) -> Iterator[ModuleType]:
        """The app file written to a temporary folder and imported, with Modal's output on the terminal
        and its errors as one line naming ``action``; refused at once without credentials."""
        _need_credentials(action)
        with tempfile.TemporaryDirectory(prefix="liftinfer-modal-") as tmp:
            module = self.load(spec, engine, Path(tmp))
            with _modal_errors(action), _output():
                yield module

    def build_base(self, spec: DeploymentSpec, engine: EngineConfig, tag: str, out: Path | None) -> str:
        """Build the base layers (OS, Python, heavy packages) on Modal once and record the image id."""
        from liftinfer.targets.common import record_base_image

        _need_credentials("build-base")
        source = f"import modal\n\nimage = {modal_source.image_expression(spec, None, base_only=True)}\n"
        if out is not None:
            out.mkdir(parents=True, exist_ok=True)
            (out / "base_image.py").write_text(source, encoding="utf-8")
        namespace: dict[str, Any] = {}
        exec(compile(source, "<liftinfer base image>", "exec"), namespace)
        with _modal_errors("build-base"), _output():
            built = namespace["image"].build()  # in an ephemeral app of Modal's own
        image_id = str(built.object_id)
        record_base_image(engine.cache_dir, tag, self.name, image_id)
        return image_id


def import_app(path: Path) -> ModuleType:
    """Import an app file the way ``modal deploy`` does: a top-level module named after the file."""
    require_modal()
    name = path.stem
    module_spec = importlib.util.spec_from_file_location(name, path)
    assert module_spec is not None and module_spec.loader is not None
    module = importlib.util.module_from_spec(module_spec)
    sys.modules[name] = module
    try:
        module_spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(name, None)
        raise
    return module


def web_urls(module: ModuleType) -> list[str]:
    """The endpoint URLs of a running or deployed app (empty where Modal did not report them)."""
    try:
        url = getattr(getattr(module, modal_source.CLASS_NAME)(), modal_source.WEB_METHOD).get_web_url()
    except Exception:  # not hydrated: Modal gave no URL
        return []
    return [url] if url else []


def _need_credentials(action: str) -> None:
    problem = credentials_error()
    if problem:
        raise TargetError(f"cannot {action} on Modal: {problem}")


@contextlib.contextmanager
def _modal_errors(action: str) -> Iterator[None]:
    """Modal's and the network's errors, as one line naming what failed."""
    from modal.exception import AuthError, Error, PermissionDeniedError

    try:
        yield
    except (AuthError, PermissionDeniedError) as exc:
        raise TargetError(f"Modal refused the credentials during {action}: {_first_line(exc)} "
                          "(check `modal token new` or MODAL_TOKEN_ID/MODAL_TOKEN_SECRET)") from None
    except (Error, OSError, TimeoutError) as exc:
        raise TargetError(f"Modal {action} failed: {type(exc).__name__}: {_first_line(exc)}") from None
    except Exception as exc:
        if type(exc).__module__.startswith(("grpclib", "h2", "ssl", "socket")):
            raise TargetError(f"Modal {action} failed: cannot reach Modal ({type(exc).__name__}: "
                              f"{_first_line(exc)})") from None
        raise


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


@contextlib.contextmanager
def _output() -> Iterator[None]:
    """Modal's own progress output (image builds, deploy steps) on the terminal."""
    import modal

    with modal.enable_output():
        yield


def _announce(urls: list[str], spec: DeploymentSpec, *, ephemeral: bool) -> None:
    import click

    what = "serving ephemerally (Ctrl-C stops it)" if ephemeral else "deployed"
    click.echo(f"{spec.name}: {what}")
    for url in urls or ["(Modal reported no URL; see `modal app list`)"]:
        click.echo(f"  endpoint: {url}")
    if spec.proxy_auth:
        click.echo("  proxy auth is on: send Modal-Key and Modal-Secret headers (a proxy auth token)")


def _wait_for_interrupt() -> None:
    while True:
        time.sleep(3600)


@hookimpl
def liftinfer_register_targets(register: Any) -> None:
    register(ModalTarget())
