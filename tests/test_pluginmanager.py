import pytest

from liftinfer import hookimpl
from liftinfer.backends import Backend
from liftinfer.config import EngineConfig
from liftinfer.errors import ConfigError
from liftinfer.pluginmanager import DEFAULT_PLUGINS, Plugins, load_engine
from liftinfer.testing import FakeEngine


def test_builtins_are_ordinary_plugins():
    plugins = Plugins(entry_points=False, disabled=set())
    names = {info.name for info in plugins.describe()}
    assert set(DEFAULT_PLUGINS) <= names
    assert "transformers" in plugins.backends()
    assert "local" in plugins.targets()
    assert plugins.backends()["transformers"].plugin == "liftinfer.backends.transformers"


def test_describe_lists_versions_and_hooks():
    plugins = Plugins(entry_points=False, disabled=set())
    info = {i.name: i for i in plugins.describe()}["liftinfer.backends.transformers"]
    assert info.version == "0.1.0"
    assert info.hooks == ("liftinfer_register_backends",)
    assert info.builtin


def test_disable_by_short_or_full_name(monkeypatch):
    monkeypatch.setenv("LIFTINFER_DISABLE_PLUGINS", "transformers, liftinfer.targets.local")
    plugins = Plugins(entry_points=False)
    assert "transformers" not in plugins.backends()
    assert "local" not in plugins.targets()


class EchoPlugin:
    @hookimpl
    def liftinfer_register_backends(self, register):
        register(Backend(name="echo", load=lambda: FakeEngine, description="echoes"))

    @hookimpl
    def liftinfer_engine_options(self, backend):
        return {"echo_level": 3} if backend == "echo" else None


def test_a_registered_plugin_adds_a_backend_and_options(tmp_path):
    plugins = Plugins(entry_points=False, disabled=set())
    plugins.register(EchoPlugin(), name="echo-plugin")
    assert plugins.backends()["echo"].plugin == "echo-plugin"
    engine = load_engine(EngineConfig(backend="echo", cache_dir=tmp_path), plugins=plugins)
    assert isinstance(engine, FakeEngine)
    assert engine.options == {"echo_level": 3}
    engine.close()


def test_two_plugins_registering_one_name_is_an_error():
    plugins = Plugins(entry_points=False, disabled=set())
    plugins.register(EchoPlugin(), name="one")
    plugins.register(EchoPlugin(), name="two")
    with pytest.raises(ConfigError, match="registered twice"):
        plugins.backends()


def test_conflicting_engine_options_name_both_plugins():
    class Other:
        @hookimpl
        def liftinfer_engine_options(self, backend):
            return {"echo_level": 4}

    plugins = Plugins(entry_points=False, disabled=set())
    plugins.register(EchoPlugin(), name="first")
    plugins.register(Other(), name="second")
    with pytest.raises(ConfigError) as info:
        plugins.engine_options(EngineConfig(), "echo")
    assert "first" in info.value.message and "second" in info.value.message


def test_a_hook_and_a_toggle_that_disagree_on_an_option_are_one_error_naming_both(tmp_path):
    class Keen:
        @hookimpl
        def liftinfer_engine_options(self):
            return {"enforce_eager": False}

    plugins = Plugins(entry_points=False, disabled=set())
    plugins.register(Keen(), name="keen")
    config = EngineConfig(backend="transformers", cache_dir=tmp_path, toggles=["eager"])
    with pytest.raises(ConfigError) as info:
        load_engine(config, plugins=plugins, load=False)
    assert info.value.message == ("engine option 'enforce_eager' is set to False by plugin keen and to True by "
                                  "toggle 'eager'; drop one of them")
    # agreeing is fine, and a user's own --option still wins over both
    engine = load_engine(config.model_copy(update={"engine_options": {"enforce_eager": False}, "toggles": []}),
                         plugins=plugins, load=False)
    assert engine.options == {"enforce_eager": False}


def test_unknown_hook_implementations_are_rejected():
    class Typo:
        @hookimpl
        def liftinfer_register_backend(self, register):  # missing "s"
            pass

    plugins = Plugins(entry_points=False, disabled=set())
    with pytest.raises(Exception, match="unknown hook"):
        plugins.register(Typo(), name="typo")


def test_unknown_backend_lists_the_installed_ones():
    plugins = Plugins(entry_points=False, disabled=set())
    with pytest.raises(ConfigError, match=r"unknown backend 'nope'; installed: .*transformers"):
        plugins.select_backend(EngineConfig(backend="nope"))


def test_a_select_backend_plugin_wins_over_the_default():
    class Chooser:
        @hookimpl
        def liftinfer_select_backend(self, config, backends):
            return "echo"

    plugins = Plugins(entry_points=False, disabled=set())
    plugins.register(EchoPlugin(), name="echo")
    plugins.register(Chooser(), name="chooser")
    assert plugins.select_backend(EngineConfig()) == "echo"


def test_entry_points_are_loaded(monkeypatch):
    import importlib.metadata as md
    import types

    plugin = EchoPlugin()

    class EP:
        name, group, value = "echo", "liftinfer", "fake_ep_plugin"

        def load(self):
            return plugin

    monkeypatch.setattr(md, "distributions", lambda: [types.SimpleNamespace(
        entry_points=[EP()], metadata={"name": "liftinfer-echo"}, version="9.9")])
    plugins = Plugins(disabled=set())
    assert "echo" in plugins.backends()
    info = {i.name: i for i in plugins.describe()}["echo"]
    assert info.version == "9.9" and not info.builtin


def test_disabled_entry_point_is_not_loaded(monkeypatch):
    import importlib.metadata as md
    import types

    loaded = []

    class EP:
        name, group, value = "echo", "liftinfer", "x"

        def load(self):
            loaded.append(1)

    monkeypatch.setattr(md, "distributions", lambda: [types.SimpleNamespace(
        entry_points=[EP()], metadata={"name": "x"}, version="1")])
    Plugins(disabled={"echo"})
    assert loaded == []
