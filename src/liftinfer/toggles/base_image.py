"""The base-image toggle: build on a prebuilt image that already holds CUDA, Python, torch and vLLM.

``liftinfer build-base --target modal|container`` builds that image once; with the toggle on, a deploy
starts from it and installs only liftinfer's light packages with uv (20-30 s instead of minutes). The
image is named by ``LIFTINFER_BASE_IMAGE`` (a registry reference, or a Modal image id ``im-...``), else
``liftinfer-base:<version>``, which each target resolves to what its ``build-base`` recorded.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from liftinfer.markers import hookimpl
from liftinfer.toggles.base import Changes, Toggle
from liftinfer.version import __version__

if TYPE_CHECKING:
    from liftinfer.config import EngineConfig

BASE_IMAGE_ENV = "LIFTINFER_BASE_IMAGE"


def base_image_name() -> str:
    """The base image deployments build on: ``LIFTINFER_BASE_IMAGE``, else this version's default name."""
    return os.environ.get(BASE_IMAGE_ENV, "").strip() or f"liftinfer-base:{__version__}"


class BaseImageToggle(Toggle):
    name = "base-image"
    description = ("deploy on a prebuilt image with CUDA, torch and vLLM (built once by `liftinfer "
                   "build-base`), so a deploy installs only what changed")

    def changes(self, config: EngineConfig, backend: str | None) -> Changes:
        return Changes(deployment={"image.base": base_image_name()})


@hookimpl
def liftinfer_register_toggles(register: Any) -> None:
    register(BaseImageToggle())
