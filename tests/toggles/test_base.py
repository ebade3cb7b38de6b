import pytest

from liftinfer.config import EngineConfig
from liftinfer.deploy import DeploymentSpec
from liftinfer.errors import ConfigError
from liftinfer.toggles.base import Changes, Toggle, active, compose


class Eagerish(Toggle):
    name = "eagerish"
    env_switches = ("TEST_EAGERISH",)
    pointless_with = {"cachey": "the compile cache is unused when nothing is compiled"}

    def changes(self, config, backend):
        return Changes(engine_options={"enforce_eager": True}, deployment={"env.MODE": "eager"})


class Cachey(Toggle):
    name = "cachey"

    def changes(self, config, backend):
        return Changes(environment={"CACHE": "/c"}, deployment={"volumes./c": "vol", "image.packages+": ["a"]})


class Other(Toggle):
    name = "other"

    def changes(self, config, backend):
        return Changes(engine_options={"enforce_eager": False}, deployment={"image.packages+": ["b"]})


AVAILABLE = {t.name: t for t in (Eagerish(), Cachey(), Other())}


def test_changes_compose_in_name_order():
    changes = compose([Eagerish(), Cachey()], EngineConfig(), "vllm")
    assert changes.toggles == ("cachey", "eagerish")
    assert changes.engine_options == {"enforce_eager": True}
    assert changes.environment == {"CACHE": "/c"}
    assert changes.deployment == {"env.MODE": "eager", "volumes./c": "vol", "image.packages+": ["a"]}


def test_conflicting_toggles_are_an_error_naming_both():
    with pytest.raises(ConfigError) as info:
        compose([Eagerish(), Other()], EngineConfig(), "vllm")
    assert "'eagerish'" in info.value.message and "'other'" in info.value.message
    assert "enforce_eager" in info.value.message


def test_list_extensions_add_up_instead_of_conflicting():
    changes = compose([Cachey(), Other()], EngineConfig(), None)
    assert changes.deployment["image.packages+"] == ["a", "b"]


def test_a_pointless_pair_warns_once():
    changes = compose([Cachey(), Eagerish()], EngineConfig(), "vllm")
    assert changes.warnings == ("toggles 'cachey' and 'eagerish' together: the compile cache is unused when "
                                "nothing is compiled",)


def test_active_takes_config_and_environment_switches(monkeypatch):
    monkeypatch.delenv("TEST_EAGERISH", raising=False)
    assert [t.name for t in active(EngineConfig(toggles=["cachey"]), AVAILABLE)] == ["cachey"]
    monkeypatch.setenv("TEST_EAGERISH", "1")
    assert [t.name for t in active(EngineConfig(toggles=["cachey"]), AVAILABLE)] == ["cachey", "eagerish"]
    with pytest.raises(ConfigError, match="unknown toggle 'nope'; available: cachey, eagerish, other"):
        active(EngineConfig(toggles=["nope"]), AVAILABLE)


def test_changes_apply_to_a_deployment_spec():
    spec = compose([Cachey(), Eagerish()], EngineConfig(), None).apply_to(DeploymentSpec())
    assert spec.env["MODE"] == "eager"
    assert spec.volumes["/c"] == "vol"
    assert spec.image.packages == ["a"]
