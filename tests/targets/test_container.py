"""The container target's build context: what the Dockerfile tells a builder, stage by stage."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Any

import pytest

from liftinfer import hookimpl
from liftinfer.config import EngineConfig
from liftinfer.deploy import CUDA_IMAGE, VolumeSpec
from liftinfer.errors import TargetError
from liftinfer.targets.common import engine_environment, record_base_image, requirements
from liftinfer.targets.container import ContainerTarget, dockerfile, run_command
from liftinfer.toggles.base import Changes, Toggle


def instructions(text: str) -> list[str]:
    """The Dockerfile's instructions, continuation lines joined, comments dropped."""
    out: list[str] = []
    pending = ""
    for line in text.splitlines():
        if not pending and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if line.endswith("\\"):
            pending += line[:-1].strip() + " "
            continue
        out.append(pending + line.strip())
        pending = ""
    return out


def stages(text: str) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {"": []}
    current = ""
    for instruction in instructions(text):
        if instruction.startswith("FROM "):
            current = instruction.split(" AS ")[-1]
            found[current] = []
        found[current].append(instruction)
    return found


@pytest.fixture
def context(make_spec: Any, tmp_path: Path) -> Any:
    """``context(*edits, toggles=...)`` -> (Dockerfile text, context folder)."""

    def build(*edits: str, toggles: tuple[str, ...] = (), **engine: Any) -> tuple[str, Path]:
        target = ContainerTarget()
        spec, config = make_spec(target, *edits, toggles=toggles, **engine)
        out = tmp_path / f"ctx{len(list(tmp_path.iterdir()))}"
        target.build(spec, config, out)
        return (out / "Dockerfile").read_text(), out

    return build


def test_three_stages_uv_then_base_then_app(context):
    text, _ = context()
    found = stages(text)
    assert list(found) == ["", "uv", "base", "app"]
    assert found["uv"] == ["FROM ${UV_IMAGE} AS uv"]
    assert found["base"][0] == "FROM ${BASE_IMAGE} AS base" and found["app"][0] == "FROM base AS app"
    assert f"ARG BASE_IMAGE={CUDA_IMAGE}" in found[""]


def test_heavy_packages_go_in_the_base_stage_and_light_ones_in_the_app_stage(context):
    found = stages(context()[0])
    core, heavy = requirements("vllm")
    base_installs = [i for i in found["base"] if "uv pip install" in i]
    app_installs = [i for i in found["app"] if "uv pip install" in i]
    assert base_installs == [f"RUN --mount=type=cache,target=/root/.cache/uv uv pip install "
                             f"{' '.join(shlex.quote(p) for p in heavy)}"]
    assert shlex.split(app_installs[0].split(" install ", 1)[1]) == core
    assert "RUN uv venv --seed --python 3.11 /opt/venv" in found["base"]
    assert "COPY --from=uv /uv /uvx /usr/local/bin/" in found["base"]


def test_the_app_runs_as_a_non_root_user_with_a_health_check_and_cache_volumes(context):
    app = stages(context()[0])["app"]
    useradd = next(i for i in app if "useradd" in i)
    assert "--uid 10001" in useradd and "chown -R liftinfer:liftinfer /cache /cache/models" in useradd
    assert app.index("USER liftinfer") > app.index(useradd)
    assert not any(i.startswith("USER root") for i in app)
    assert 'VOLUME ["/cache/models"]' in app
    health = next(i for i in app if i.startswith("HEALTHCHECK"))
    assert "--start-period=1200s" in health and "http://127.0.0.1:8000/health" in health
    assert "EXPOSE 8000" in app
    assert app[-1] == 'CMD ["python", "-m", "liftinfer", "serve", "--host", "0.0.0.0", "--port", "8000"]'


def test_the_context_ships_liftinfer_and_a_dockerignore(context):
    text, out = context()
    assert "COPY liftinfer /opt/liftinfer/liftinfer" in text
    assert (out / "liftinfer" / "server" / "app.py").exists()
    assert not list(out.rglob("__pycache__"))
    assert "**/__pycache__" in (out / ".dockerignore").read_text()


def test_a_pinned_liftinfer_is_installed_instead_of_copied(context):
    text, out = context('image.liftinfer="liftinfer[vllm]==0.1.0"')
    assert "uv pip install 'liftinfer[vllm]==0.1.0'" in text
    assert "COPY liftinfer" not in text and not (out / "liftinfer").exists()


def test_cpu_only_starts_from_slim_python_with_the_cpu_extra(context):
    found = stages(context("gpu.type=null")[0])
    assert "ARG BASE_IMAGE=python:3.11-slim-bookworm" in found[""]
    assert any("torch" in i for i in found["base"])


def test_base_image_toggle_starts_from_the_prebuilt_base(context, monkeypatch):
    monkeypatch.setenv("LIFTINFER_BASE_IMAGE", "ghcr.io/acme/liftinfer-base:1")
    found = stages(context(toggles=("base-image",))[0])
    assert "ARG BASE_IMAGE=ghcr.io/acme/liftinfer-base:1" in found[""]
    assert found["base"] == ["FROM ${BASE_IMAGE} AS base"]
    assert not any("vllm" in i for stage in found.values() for i in stage)
    assert "COPY --from=uv /uv /uvx /usr/local/bin/" in found["app"]


def test_base_image_toggle_uses_the_image_build_base_recorded(context, tmp_path):
    record_base_image(tmp_path / "cache", "liftinfer-base:0.1.0", "container", "registry.local/base:7")
    assert "ARG BASE_IMAGE=registry.local/base:7" in context(toggles=("base-image",))[0]


def test_a_modal_image_id_cannot_be_a_container_base(context, monkeypatch):
    monkeypatch.setenv("LIFTINFER_BASE_IMAGE", "im-123")
    with pytest.raises(TargetError, match="Modal image id"):
        context(toggles=("base-image",))


def test_the_base_only_dockerfile_is_the_base_stage(make_spec):
    spec, _ = make_spec(ContainerTarget())
    text = dockerfile(spec, None, base_only=True)
    assert list(stages(text)) == ["", "uv", "base"]
    assert "uv pip install 'vllm>=0.10'" in text


class CacheVolumeToggle(Toggle):
    name = "test-cache"

    def changes(self, config, backend):
        return Changes(deployment={"volumes./cache/compile": VolumeSpec("liftinfer-compile"),
                                   "env.VLLM_CACHE_ROOT": "/cache/compile/vllm"})


class CacheTogglePlugin:
    @hookimpl
    def liftinfer_register_toggles(self, register):
        register(CacheVolumeToggle())


def test_any_toggles_volumes_and_env_are_rendered(context, register_plugin):
    register_plugin(CacheTogglePlugin(), name="test-cache-toggle")
    app = stages(context(toggles=("test-cache",))[0])["app"]
    assert 'VOLUME ["/cache/compile", "/cache/models"]' in app
    assert any('VLLM_CACHE_ROOT="/cache/compile/vllm"' in i for i in app if i.startswith("ENV"))
    assert any("mkdir -p /cache /cache/compile /cache/models" in i for i in app)


def test_engine_settings_reach_the_container_as_variables_it_reads_back(monkeypatch):
    values = {"model": "org/model", "max_batch_size": 16, "toggles": ["eager", "snapshot"],
              "engine_options": {"gpu_memory_utilization": 0.8}, "compact_json": False, "cache_dir": "/cache"}
    for key, value in engine_environment(values, {}).items():
        monkeypatch.setenv(key, value)
    config = EngineConfig()
    assert config.model_dump(mode="json", include=set(values)) == values


def test_env_values_are_quoted_for_the_dockerfile(context):
    text, _ = context('env.GREETING=say "hi" to $USER')
    assert 'GREETING="say \\"hi\\" to \\$USER"' in text


def test_docker_run_maps_the_port_gpus_and_volumes(make_spec):
    spec, _ = make_spec(ContainerTarget(), "gpu.count=2")
    assert run_command(spec, "127.0.0.1", 9000) == [
        "run", "--rm", "--init", "-p", "127.0.0.1:9000:8000", "--gpus", "2",
        "-v", "liftinfer-models:/cache/models", "liftinfer"]
