from liftinfer.backends import default
from liftinfer.config import EngineConfig
from liftinfer.pluginmanager import Plugins


def test_auto_prefers_transformers_without_cuda(monkeypatch):
    monkeypatch.setattr(default, "cuda_available", lambda: False)
    plugins = Plugins(entry_points=False, disabled=set())
    assert plugins.select_backend(EngineConfig(backend="auto")) == "transformers"


def test_the_default_choice_is_a_plugin_that_can_be_disabled():
    plugins = Plugins(entry_points=False, disabled={"default"})
    assert "liftinfer.backends.default" not in {info.name for info in plugins.describe()}
    assert plugins.pm.hook.liftinfer_select_backend(config=EngineConfig(), backends=plugins.backends()) is None
