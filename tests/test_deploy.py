import pytest

from liftinfer.deploy import DeploymentSpec, VolumeSpec
from liftinfer.errors import ConfigError


def test_defaults_carry_the_original_apps_settings():
    spec = DeploymentSpec()
    assert spec.scaling.scaledown_window == 600
    assert spec.scaling.min_containers == 0
    assert spec.proxy_auth is True


def test_dotted_edits_set_fields_dict_keys_and_extend_lists():
    spec = DeploymentSpec()
    spec.apply("image.base", "ghcr.io/x/base:1")
    spec.apply("env.VLLM_CACHE_ROOT", "/cache/vllm")
    spec.apply("volumes./cache", VolumeSpec("liftinfer-cache", "compile caches"))
    spec.apply("image.packages+", ["vllm==0.26.0"])
    spec.apply("image.packages+", "fastsafetensors")
    spec.apply("scaling.min_containers", 1)
    assert spec.image.base == "ghcr.io/x/base:1"
    assert spec.env == {"VLLM_CACHE_ROOT": "/cache/vllm"}
    assert spec.volumes["/cache"].name == "liftinfer-cache"
    assert spec.image.packages == ["vllm==0.26.0", "fastsafetensors"]
    assert spec.scaling.min_containers == 1


def test_unknown_fields_are_refused():
    with pytest.raises(ConfigError, match="no field 'imag'"):
        DeploymentSpec().apply("imag.base", "x")
    with pytest.raises(ConfigError, match="not a list"):
        DeploymentSpec().apply("image.base+", "x")
