from liftinfer.config import EngineConfig
from liftinfer.pluginmanager import Plugins
from liftinfer.toggles.base_image import BaseImageToggle, base_image_name


def test_sets_the_image_base_to_this_versions_base_by_default(monkeypatch):
    monkeypatch.delenv("LIFTINFER_BASE_IMAGE", raising=False)
    changes = BaseImageToggle().changes(EngineConfig(), None)
    assert changes.deployment == {"image.base": "liftinfer-base:0.1.0"}
    assert not changes.engine_options and not changes.environment


def test_liftinfer_base_image_names_another_base(monkeypatch):
    monkeypatch.setenv("LIFTINFER_BASE_IMAGE", "ghcr.io/acme/base:2")
    assert base_image_name() == "ghcr.io/acme/base:2"
    assert BaseImageToggle().changes(EngineConfig(), "vllm").deployment["image.base"] == "ghcr.io/acme/base:2"


def test_is_a_builtin_plugin_listed_with_its_description():
    toggle = Plugins(entry_points=False, disabled=set()).toggles()["base-image"]
    assert toggle.plugin == "liftinfer.toggles.base_image"
    assert "liftinfer build-base" in toggle.description
