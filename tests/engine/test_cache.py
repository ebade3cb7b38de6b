import pytest

from liftinfer.engine.cache import CacheRoot


def test_cache_root_reports_and_clears(tmp_path):
    cache = CacheRoot(tmp_path)
    cache.ensure(cache.compile_dir("triton"))
    (cache.compile_dir("triton") / "k").write_bytes(b"12345")
    assert cache.sizes()["compile/triton"] == 5
    cache.clear("compile/triton")
    assert cache.sizes()["compile/triton"] == 0
    with pytest.raises(ValueError):
        cache.clear("../elsewhere")
    with pytest.raises(ValueError):
        cache.compile_dir("nope")
