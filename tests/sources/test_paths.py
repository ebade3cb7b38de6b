import pytest

from liftinfer.engine.cache import CacheRoot
from liftinfer.errors import ModelSourceError
from liftinfer.sources.paths import LocalSource


def test_local_sources(tmp_path):
    source = LocalSource()
    gguf = tmp_path / "m.gguf"
    gguf.write_bytes(b"x")
    assert source.resolve(str(gguf), CacheRoot(tmp_path)).format == "gguf"
    hf = tmp_path / "hf"
    hf.mkdir()
    (hf / "config.json").write_text("{}")
    assert source.resolve(str(hf), CacheRoot(tmp_path)).format == "hf"
    assert source.resolve("org/name", CacheRoot(tmp_path)) is None
    with pytest.raises(ModelSourceError, match="does not exist"):
        source.resolve(str(tmp_path / "missing.gguf"), CacheRoot(tmp_path))
    with pytest.raises(ModelSourceError, match="neither"):
        source.resolve(str(tmp_path), CacheRoot(tmp_path))
