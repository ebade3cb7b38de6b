from pathlib import Path

import pytest
from pydantic import ValidationError

from liftinfer.config import EngineConfig, ServeConfig, default_cache_dir, parse_assignments
from liftinfer.errors import ConfigError


def test_defaults_are_the_embedded_model_and_auto_backend(monkeypatch):
    for name in ("LIFTINFER_MODEL", "LIFTINFER_BACKEND", "LIFTINFER_CACHE_DIR", "LIFTINFER_TOGGLES"):
        monkeypatch.delenv(name, raising=False)
    config = EngineConfig()
    assert config.model == "smollm2"
    assert config.backend == "auto"
    assert config.compact_json is True
    assert config.toggles == []


def test_environment_overrides(monkeypatch, tmp_path):
    monkeypatch.setenv("LIFTINFER_MODEL", "/models/x.gguf")
    monkeypatch.setenv("LIFTINFER_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("LIFTINFER_TOGGLES", "eager, compile-cache")
    monkeypatch.setenv("LIFTINFER_MAX_BATCH_SIZE", "3")
    config = EngineConfig()
    assert config.model == "/models/x.gguf"
    assert config.cache_dir == tmp_path
    assert config.toggles == ["eager", "compile-cache"]
    assert config.max_batch_size == 3


def test_cache_dir_follows_xdg(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert default_cache_dir() == tmp_path / "liftinfer"


def test_bad_values_are_refused_with_the_field_named():
    with pytest.raises(ValidationError) as info:
        EngineConfig(max_batch_size=0)
    assert info.value.errors()[0]["loc"] == ("max_batch_size",)
    with pytest.raises(ValidationError):
        EngineConfig(unknown_setting=1)


def test_api_key_from_file(tmp_path):
    from liftinfer.server.auth import load_api_key

    key = tmp_path / "key"
    key.write_text("s3cret\n")
    assert load_api_key(ServeConfig(api_key_file=key)) == "s3cret"
    assert load_api_key(ServeConfig(api_key="direct")) == "direct"
    assert "direct" not in repr(ServeConfig(api_key="direct"))
    assert ServeConfig(api_key_file=Path(key)).port == 8000


def test_assignments_parse_json_values_and_keep_other_text():
    pairs = parse_assignments([" n = 3", "dtype=float16", "flags=[1, 2]", "path=a=b", "empty="], "--option")
    assert pairs == [("n", 3), ("dtype", "float16"), ("flags", [1, 2]), ("path", "a=b"), ("empty", "")]


@pytest.mark.parametrize("item", ["no-equals", "=3", " =3"])
def test_a_malformed_assignment_names_the_flag_and_the_item(item):
    with pytest.raises(ConfigError) as caught:
        parse_assignments([item], "--set", name="PATH", example="a.b=1", field="set")
    assert str(caught.value) == f"--set {item!r}: expected PATH=VALUE, e.g. a.b=1"
    assert caught.value.field == "set"
