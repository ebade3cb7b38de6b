"""Target.spec: how the user's edits, liftinfer's needs, toggles and hooks make one DeploymentSpec."""

from __future__ import annotations

import pytest

from liftinfer import hookimpl
from liftinfer.config import ServeConfig
from liftinfer.deploy import CUDA_IMAGE, VolumeSpec, build_spec
from liftinfer.errors import ConfigError, TargetError
from liftinfer.targets.base import Target
from liftinfer.targets.common import requirements


def test_a_gpu_deployment_needs_cuda_and_vllm_and_keeps_models_on_a_volume(make_spec):
    spec, _ = make_spec(Target())
    core, heavy = requirements("vllm")
    assert spec.image.os_image == CUDA_IMAGE
    assert spec.image.heavy_packages == heavy == ["vllm>=0.10"]
    assert spec.image.packages == core and "fastapi>=0.110" in core
    assert spec.volumes == {"/cache/models": VolumeSpec("liftinfer-models", "model weights")}
    assert spec.env == {"HF_HOME": "/cache/models/hf"}


def test_cpu_only_needs_the_cpu_extra(make_spec):
    spec, _ = make_spec(Target(), "gpu.type=null")
    assert spec.image.os_image is None
    assert "torch>=2.4" in spec.image.heavy_packages


def test_the_engine_carries_what_was_set_and_every_active_toggle(make_spec, monkeypatch):
    monkeypatch.setenv("LIFTINFER_TOGGLES", "snapshot")
    spec, _ = make_spec(Target(), model="org/model")
    assert spec.engine == {"model": "org/model", "cache_dir": "/cache", "toggles": ["snapshot"]}
    assert spec.snapshot is True


def test_serve_settings_travel_but_not_hosts_or_keys(liftinfer_plugins, tmp_path):
    from liftinfer.config import EngineConfig

    serve = ServeConfig(host="0.0.0.0", port=1234, api_key="secret", log_level="debug", warmup_on_start=False)
    spec = build_spec(EngineConfig(cache_dir=tmp_path), serve, liftinfer_plugins)
    assert spec.serve == {"log_level": "debug", "warmup_on_start": False}


def test_edits_from_the_environment_then_the_command_line(make_spec, monkeypatch):
    monkeypatch.setenv("LIFTINFER_DEPLOY_SET", "scaling.min_containers=2; name=from-env")
    spec, _ = make_spec(Target(), "name=from-cli", 'image.packages+=["fastsafetensors"]')
    assert spec.scaling.min_containers == 2 and spec.name == "from-cli"
    assert spec.image.packages[-1] == "fastsafetensors"
    assert spec.volumes["/cache/models"].name == "from-cli-models"


def test_a_toggle_may_not_undo_a_users_edit(make_spec):
    with pytest.raises(ConfigError, match=r"'snapshot' is set to False by --set and to True by toggle 'snapshot'"):
        make_spec(Target(), "snapshot=false", toggles=("snapshot",))


class LateHook:
    @hookimpl
    def liftinfer_deployment(self, spec, config):
        spec.apply("volumes./data", "datasets")
        spec.apply("scaling.max_containers", config.max_batch_size)


def test_deployment_hooks_run_last_and_string_volumes_are_named_volumes(make_spec, register_plugin):
    register_plugin(LateHook(), name="late-hook")
    spec, _ = make_spec(Target(), max_batch_size=3)
    assert spec.volumes["/data"] == VolumeSpec("datasets")
    assert spec.scaling.max_containers == 3


@pytest.mark.parametrize(("edit", "message"), [
    ("scaling.scaledown_window=7200", "scaling.scaledown_window: must be 2 to 3600 seconds"),
    ("scaling.max_containers=0", "scaling.max_containers: must be at least 1"),
    ("scaling.target_concurrency=100", "scaling.target_concurrency: must be 1 to concurrency (64)"),
    ("gpu.count=0", "gpu.count: must be at least 1"),
    ("name=no spaces", "name: 'no spaces' must be letters"),
    ('volumes./tmp="scratch"', "volumes./tmp: a mount path must be absolute and canonical"),
    ('volumes./other="liftinfer-models"', "volume 'liftinfer-models' is also mounted at"),
    ("image=big", "'image' has fields of its own"),
])
def test_values_a_target_cannot_render_are_refused_with_the_path(make_spec, edit, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        make_spec(Target(), edit)


def test_actions_a_target_lacks_say_so(make_spec, tmp_path):
    spec, config = make_spec(Target())
    with pytest.raises(TargetError, match="cannot deploy"):
        Target().deploy(spec, config)
    with pytest.raises(TargetError, match="cannot export"):
        Target().export(spec, config, tmp_path / "x")


def test_a_model_path_on_this_machine_is_warned_about(make_spec, tmp_path, caplog):
    local = tmp_path / "my-model"
    local.mkdir()
    make_spec(Target(), model=str(local))
    assert "is a path on this machine; the deployment will not have it" in caplog.text
