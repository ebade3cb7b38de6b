"""The Modal target, offline: build the app from specs with and without each toggle, and check what Modal
would be told (image layers, volumes and mount paths, GPU, scaling, concurrency, auth, lifecycle)."""

from __future__ import annotations

import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("modal")

from liftinfer import hookimpl
from liftinfer.deploy import CUDA_IMAGE, VolumeSpec, build_spec
from liftinfer.errors import TargetError
from liftinfer.targets.common import record_base_image, requirements
from liftinfer.targets.modal import ModalTarget
from liftinfer.toggles.base import Changes, Toggle

from .modal_told import image_steps, lifecycle, told


@pytest.fixture
def build(make_spec: Any, tmp_path: Any) -> Any:
    """``build(*edits, toggles=...)`` -> the imported app module, as serve/deploy/export make it."""

    def build(*edits: str, toggles: tuple[str, ...] = (), **engine: Any) -> Any:
        target = ModalTarget()
        spec, config = make_spec(target, *edits, toggles=toggles, **engine)
        directory = tmp_path / f"app{len(list(tmp_path.iterdir()))}"
        directory.mkdir()
        return target.load(spec, config, directory)

    return build


def test_defaults_carry_the_original_apps_settings(build):
    options = told(build())
    assert options["gpu"] == "H100"
    assert options["scaledown_window"] == 600
    assert options["min_containers"] == 0
    assert options["max_containers"] is None
    assert options["max_concurrent_inputs"] == 64
    assert options["timeout"] == 600 and options["startup_timeout"] == 1200
    assert options["enable_memory_snapshot"] is False
    assert options["web"] == {"web": {"type": "WEBHOOK_TYPE_ASGI_APP", "requires_proxy_auth": True}}
    assert options["volumes"] == {"/cache/models": ("liftinfer-models", True)}
    assert options["secrets"] == []


def test_the_image_is_cuda_then_vllm_then_liftinfer_installed_with_uv(build):
    steps = image_steps(told(build())["image"])
    core, heavy = requirements("vllm")
    assert steps[0] == f"FROM {CUDA_IMAGE}"
    installs = [s for s in steps if s.startswith("RUN /.uv/uv pip install")]
    installed = [shlex.split(s.rsplit("--compile-bytecode ", 1)[1]) for s in installs]
    assert installed == [sorted(heavy), sorted(core)]
    assert "ENV HF_HOME=/cache/models/hf" in steps
    assert steps[-1].startswith("MOUNT _MountedPythonModule(module_name='liftinfer'")


def test_the_class_loads_in_enter_and_serves_the_asgi_app(build):
    expected = {"enter_pre_snapshot": [], "enter_post_snapshot": ["start"], "exit": ["stop"]}
    assert lifecycle(build()) == expected


def test_scaling_concurrency_regions_secrets_and_auth_follow_the_spec(build):
    module = build("gpu.type=A100-80GB", "gpu.count=2", "scaling.min_containers=1",
                   "scaling.max_containers=4",
                   "scaling.scaledown_window=120", "scaling.concurrency=32", "scaling.target_concurrency=16",
                   'regions=["us-east"]', 'secrets=["hf-token"]', "api_key_secret=liftinfer-key",
                   "proxy_auth=false")
    options = told(module)
    assert options["gpu"] == "A100-80GB:2"
    assert (options["min_containers"], options["max_containers"], options["scaledown_window"]) == (1, 4, 120)
    assert (options["max_concurrent_inputs"], options["target_concurrent_inputs"]) == (32, 16)
    assert options["regions"] == ["us-east"]
    assert options["secrets"] == ["hf-token", "liftinfer-key"]
    assert options["web"]["web"]["requires_proxy_auth"] is False


def test_cpu_only_uses_a_slim_image_and_the_cpu_extra(build):
    options = told(build("gpu.type=null"))
    steps = image_steps(options["image"])
    assert options["gpu"] is None
    assert steps[0].startswith("FROM python:3.11")
    assert any("torch" in s and "transformers" in s for s in steps)
    assert not any("vllm" in s for s in steps)


def test_snapshot_toggle_snapshots_memory_and_sleeps_between_load_and_restore(build):
    module = build(toggles=("snapshot",))
    options = told(module)
    assert options["enable_memory_snapshot"] is True
    assert options["experimental_options"] == {"enable_gpu_snapshot": "True"}
    assert lifecycle(module) == {"enter_pre_snapshot": ["load_before_snapshot"],
                                 "enter_post_snapshot": ["wake_after_restore"], "exit": ["stop"]}
    assert module.ENGINE["toggles"] == ["snapshot"]


def test_without_snapshot_there_is_no_snapshot_phase(build):
    assert told(build())["experimental_options"] == {}


def test_base_image_toggle_builds_on_a_modal_image_id_and_skips_the_heavy_layer(build, monkeypatch):
    monkeypatch.setenv("LIFTINFER_BASE_IMAGE", "im-0123456789")
    steps = image_steps(told(build(toggles=("base-image",)))["image"])
    assert steps[0] == "FROM im-0123456789"
    assert not any("vllm" in s for s in steps)
    assert any("fastapi" in s for s in steps if s.startswith("RUN /.uv/uv pip install"))


def test_base_image_toggle_uses_what_build_base_recorded(build, tmp_path):
    record_base_image(tmp_path / "cache", "liftinfer-base:0.1.0", "modal", "im-recorded")
    assert image_steps(told(build(toggles=("base-image",)))["image"])[0] == "FROM im-recorded"


def test_base_image_toggle_takes_a_registry_reference(build, monkeypatch):
    monkeypatch.setenv("LIFTINFER_BASE_IMAGE", "ghcr.io/acme/liftinfer-base:1")
    steps = image_steps(told(build(toggles=("base-image",)))["image"])
    assert steps[0] == "FROM ghcr.io/acme/liftinfer-base:1"


def test_an_unbuilt_base_image_says_to_run_build_base(build):
    with pytest.raises(TargetError, match="liftinfer build-base --target modal"):
        build(toggles=("base-image",))


class CacheVolumeToggle(Toggle):
    """Stands in for any toggle that adds a volume and environment (the compile cache does)."""

    name = "test-cache"

    def changes(self, config, backend):
        volume = VolumeSpec("liftinfer-compile", "compile caches")
        return Changes(deployment={"volumes./cache/compile": volume,
                                   "env.VLLM_CACHE_ROOT": "/cache/compile/vllm",
                                   "image.packages+": ["fastsafetensors"]})


class CacheTogglePlugin:
    @hookimpl
    def liftinfer_register_toggles(self, register):
        register(CacheVolumeToggle())


def test_any_toggles_volumes_env_and_packages_are_rendered(build, register_plugin):
    register_plugin(CacheTogglePlugin(), name="test-cache-toggle")
    options = told(build(toggles=("test-cache",)))
    assert options["volumes"]["/cache/compile"] == ("liftinfer-compile", True)
    steps = image_steps(options["image"])
    assert any(s.startswith("ENV ") and "VLLM_CACHE_ROOT=/cache/compile/vllm" in s for s in steps)
    assert any("fastsafetensors" in s for s in steps if "pip install" in s)


class GpuPlugin:
    @hookimpl
    def liftinfer_deployment(self, spec):
        spec.apply("gpu.type", "L40S")
        spec.apply("extras.modal", {"memory": 32768})


def test_the_deployment_hook_edits_what_is_rendered(build, register_plugin):
    register_plugin(GpuPlugin(), name="gpu-plugin")
    module = build()
    assert told(module)["gpu"] == "L40S"
    assert "memory=32768" in Path(module.__file__).read_text()


def test_engine_settings_travel_with_the_app(build):
    module = build(model="org/some-model", max_batch_size=32)
    assert module.ENGINE == {"model": "org/some-model", "max_batch_size": 32, "cache_dir": "/cache"}


def test_the_exported_file_imports_with_only_modal(make_spec, tmp_path):
    target = ModalTarget()
    spec, config = make_spec(target, toggles=("snapshot",))
    target.export(spec, config, tmp_path / "app.py")
    # liftinfer is made unimportable: the file must not need it until it runs in the container
    code = ("import sys; sys.modules['liftinfer'] = None; sys.path.insert(0, sys.argv[1]); import app; "
            "print(app.app.name, type(app.LiftinferServer).__name__)")
    result = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True,
                            timeout=120, env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)})
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["liftinfer", "Cls"]


def test_export_refuses_a_file_modal_cannot_import(make_spec, tmp_path):
    target = ModalTarget()
    spec, config = make_spec(target)
    with pytest.raises(TargetError, match="named like a module"):
        target.export(spec, config, tmp_path / "my-app.py")


def _read_only(volume: Any) -> bool:
    from modal._utils.async_utils import synchronizer

    from .modal_told import _closure

    options = _closure(synchronizer._translate_in(volume)._load).get("mount_options")
    return bool(options and options.read_only)


def test_compile_cache_is_primed_by_one_function_and_read_only_for_serving(build):
    from modal._utils.async_utils import synchronizer

    from .modal_told import _closure

    module = build(toggles=("compile-cache",))
    assert told(module)["volumes"]["/cache/compile"] == ("liftinfer-compile-cache", True)
    assert _read_only(module.volumes["/cache/compile"]) and not _read_only(module.volumes["/cache/models"])
    assert module.ENGINE["compile_cache_seed"] == "/cache/compile"
    prime = _closure(synchronizer._translate_in(module.prime)._load)
    mounts = dict(prime["validated_volumes_no_cloud_buckets"])
    assert not _read_only(mounts["/cache/compile"])  # the prime job alone writes it ...
    assert prime["gpu"] == told(module)["gpu"]  # ... on the GPU that serves, so kernels match
    assert "prime_volumes[path].commit()" in Path(module.__file__).read_text()  # ... and commits it once


def test_without_a_primed_volume_there_is_no_prime_function(build):
    from liftinfer.config import EngineConfig, ServeConfig
    from liftinfer.pluginmanager import get_plugins

    assert not hasattr(build(), "prime")
    target, config = ModalTarget(), EngineConfig()
    with pytest.raises(TargetError, match="nothing to prime"):
        target.prime(build_spec(config, ServeConfig(), get_plugins()), config)
