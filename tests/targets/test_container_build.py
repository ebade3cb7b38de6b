"""The generated build context, built by a real image builder (buildah, which needs no daemon), then run.

No registry is reachable from these machines, so the test builds on two local images that
``tests/targets/builder_images.sh`` makes (a Debian base with Python, and uv from its PyPI wheel), passed
in as the Dockerfile's BASE_IMAGE and UV_IMAGE build arguments. It is skipped where buildah or those
images are missing. The heavy layer is swapped for a small package: the test is about the Dockerfile,
not about downloading torch.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from liftinfer.targets.container import ContainerTarget
from tests.conftest import free_port

STORE = ["--storage-driver", "vfs"]
BASE = "localhost/liftinfer-test-base:bookworm"
UV = "localhost/liftinfer-test-uv:latest"


def buildah(*args: str, timeout: int = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["buildah", *STORE, *args], capture_output=True, text=True, timeout=timeout)


def _missing() -> str | None:
    if shutil.which("buildah") is None:
        return "buildah is not installed (apt-get install buildah)"
    for image in (BASE, UV):
        if buildah("inspect", "--type", "image", image).returncode != 0:
            return f"the local image {image} is missing (run tests/targets/builder_images.sh)"
    return None


pytestmark = pytest.mark.skipif(bool(_missing()), reason=_missing() or "")

# A tiny engine so the built image can serve /health without the model's packages.
SERVER = """
import sys, uvicorn
from liftinfer.engine.base import Completion, GenerationEngine
from liftinfer.server import create_app

class Tiny(GenerationEngine):
    backend_name = "tiny"
    def _load(self):
        self.model_name = "tiny"
    async def _complete(self, prepared):
        return Completion(text='{"ok": true}', finish_reason="stop", prompt_tokens=1, completion_tokens=1)

uvicorn.run(create_app(Tiny()), host="127.0.0.1", port=int(sys.argv[1]), log_level="warning")
"""


def test_the_context_builds_and_the_image_serves_a_healthy_endpoint(make_spec: Any, tmp_path: Path) -> None:
    port = free_port()  # builds share the host's network, so the health check gets a port of its own
    target = ContainerTarget()
    spec, config = make_spec(target, "gpu.type=null", 'image.heavy_packages=["six"]', f"port={port}")
    target.build(spec, config, tmp_path / "ctx")
    tag = f"localhost/liftinfer-built:{port}"
    built = buildah("bud", "--isolation", "chroot", "--format", "docker", "--build-arg", f"BASE_IMAGE={BASE}",
                    "--build-arg", f"UV_IMAGE={UV}", "-t", tag, str(tmp_path / "ctx"), timeout=900)
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
    try:
        image = json.loads(buildah("inspect", "--type", "image", tag).stdout)["Docker"]["config"]
        assert image["User"] == "liftinfer"
        assert image["Volumes"] == {"/cache/models": {}}
        assert image["ExposedPorts"] == {f"{port}/tcp": {}}
        assert image["Cmd"] == ["python", "-m", "liftinfer", "serve", "--host", "0.0.0.0",
                                "--port", str(port)]
        health = image["Healthcheck"]["Test"]
        assert health[0] == "CMD" and f"http://127.0.0.1:{port}/health" in health[-1]
        (tmp_path / "server.py").write_text(SERVER)
        # pip must be there: the packaged-model source fetches its wheel with it
        probe = (f"id -u; python -m pip --version >/dev/null || exit 2; python /tmp/server.py {port} & "
                 "for i in $(seq 1 100); do "
                 f"{' '.join(_sh(a) for a in health[1:])} 2>/dev/null && echo healthy && kill $! && exit 0; "
                 "sleep 0.2; done; kill $!; exit 1")
        container = buildah("from", tag).stdout.strip()
        try:
            assert buildah("copy", container, str(tmp_path / "server.py"), "/tmp/server.py").returncode == 0
            ran = buildah("run", "--isolation", "chroot", container, "--", "sh", "-c", probe, timeout=120)
        finally:
            buildah("rm", container)
        assert ran.returncode == 0, ran.stdout + ran.stderr
        assert ran.stdout.split() == ["10001", "healthy"]
    finally:
        buildah("rmi", tag)


def _sh(arg: str) -> str:
    return "'" + arg.replace("'", "'\\''") + "'"
