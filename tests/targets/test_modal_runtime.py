"""What the Modal app's class does in its container, run here with a fake backend: load and warm up,
sleep before the snapshot and wake after the restore, then serve liftinfer's API."""

from __future__ import annotations

from typing import Any

import pytest

pytest.importorskip("modal")

from fastapi.testclient import TestClient

from liftinfer import hookimpl
from liftinfer.backends import Backend
from liftinfer.targets.modal import ModalTarget
from liftinfer.testing import FakeEngine

from .modal_told import call, user_instance

EVENTS: list[str] = []


class SleepyEngine(FakeEngine):
    backend_name = "sleepy"

    def __init__(self, config: Any = None, **kwargs: Any) -> None:  # backends get the config positionally
        super().__init__(config=config, **kwargs)

    def _load(self) -> None:
        EVENTS.append("load")
        super()._load()

    def sleep(self) -> None:
        EVENTS.append("sleep")

    def wake(self) -> None:
        EVENTS.append("wake")


class SleepyPlugin:
    @hookimpl
    def liftinfer_register_backends(self, register):
        register(Backend(name="sleepy", load=lambda: SleepyEngine))


@pytest.fixture
def app_module(make_spec: Any, register_plugin: Any, tmp_path: Any) -> Any:
    register_plugin(SleepyPlugin(), name="sleepy-backend")
    EVENTS.clear()

    def build(*toggles: str) -> Any:
        target = ModalTarget()
        cache = tmp_path / "container-cache"
        spec, config = make_spec(target, f'engine.cache_dir="{cache}"', toggles=toggles,
                                 backend="sleepy")
        return target.load(spec, config, tmp_path)

    return build


def test_a_snapshot_container_loads_and_warms_before_the_snapshot_and_wakes_after(app_module):
    module = app_module("snapshot")
    server = user_instance(module)
    call(module, "load_before_snapshot", server)
    assert EVENTS == ["load", "sleep"]
    assert server.engine.warmup_report is not None  # warmed before the snapshot was taken
    call(module, "wake_after_restore", server)
    assert EVENTS == ["load", "sleep", "wake"]
    with TestClient(call(module, "web", server)) as client:
        health = client.get("/health").json()
        assert health["ready"] and health["warm"] and health["toggles"] == ["snapshot"]
        response = client.post("/generate", json={"prompt": "hi", "schema": {"type": "object"}})
        assert response.status_code == 200
    assert server.engine.state == "closed"


def test_a_plain_container_loads_in_enter_warms_as_the_app_starts_and_closes_on_exit(app_module):
    module = app_module()
    server = user_instance(module)
    call(module, "start", server)
    assert EVENTS == ["load"]
    assert not server.engine.health()["warm"]
    with TestClient(call(module, "web", server)) as client:
        # warmed in the app's start-up, before the first request reaches it, on the app's own loop
        assert client.get("/health").json()["warm"]
        assert server.engine.requests[0].request.json_schema["required"] == ["ok"]
        assert client.post("/generate", json={"prompt": "hi", "schema": {"type": "object"}}).status_code == 200
        assert server.engine._bridge.current is not None and not server.engine._bridge.owned
    call(module, "stop", server)
    assert server.engine.state == "closed"


def test_the_prime_job_writes_into_the_volume_and_serving_starts_from_a_copy(register_plugin, tmp_path,
                                                                              monkeypatch):
    from liftinfer.config import EngineConfig
    from liftinfer.pluginmanager import load_engine
    from liftinfer.targets.modal_runtime import prime_caches
    from liftinfer.toggles.compile_cache import cache_environment

    for name in cache_environment("/"):
        monkeypatch.delenv(name, raising=False)
    register_plugin(SleepyPlugin(), name="sleepy-backend")
    volume, work = tmp_path / "volume", tmp_path / "work"
    values = {"backend": "sleepy", "cache_dir": str(tmp_path), "toggles": ["compile-cache"],
              "compile_cache_dir": str(work), "compile_cache_seed": str(volume)}
    report = prime_caches(values)
    assert report["compile_cache_dir"] == str(volume)
    import os

    assert os.environ["TRITON_CACHE_DIR"] == str(volume / "triton")  # the JIT caches went to the volume
    (volume / "triton").mkdir(parents=True)
    (volume / "triton" / "kernel.bin").write_bytes(b"compiled")
    engine = load_engine(EngineConfig(**values))  # a serving container: seeded from the read-only volume
    assert (work / "triton" / "kernel.bin").read_bytes() == b"compiled"
    assert "seed_compile_caches_ms" in engine.health()["startup"]
    assert os.environ["TRITON_CACHE_DIR"] == str(work / "triton")
    engine.close()
