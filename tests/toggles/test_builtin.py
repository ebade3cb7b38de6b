"""The built-in engine-side toggles: what each changes, and how they compose."""

from pathlib import Path

from liftinfer.config import EngineConfig
from liftinfer.deploy import DeploymentSpec
from liftinfer.pluginmanager import Plugins


def plugins():
    return Plugins(entry_points=False, disabled=set())


def test_compile_cache_points_every_jit_cache_into_one_root(tmp_path, monkeypatch):
    monkeypatch.delenv("VLLM_CONFIG_ROOT", raising=False)
    changes = plugins().toggle_changes(EngineConfig(toggles=["compile-cache"], cache_dir=tmp_path), "vllm")
    root = tmp_path / "compile"
    assert changes.environment == {
        "VLLM_CONFIG_ROOT": "/tmp/liftinfer-vllm-config",
        "VLLM_XLA_CACHE_PATH": "/tmp/liftinfer-vllm-xla-cache",
        "VLLM_CACHE_ROOT": str(root / "vllm"),
        "FLASHINFER_WORKSPACE_BASE": str(root / "flashinfer"),
        "TRITON_CACHE_DIR": str(root / "triton"),
        "TORCHINDUCTOR_CACHE_DIR": str(root / "inductor"),
        "CUDA_CACHE_PATH": str(root / "cuda"),
        "CUDA_CACHE_MAXSIZE": str(4 * 2**30),
    }
    spec = changes.apply_to(DeploymentSpec())
    volume = spec.volumes["/cache/compile"]
    assert volume.name == "liftinfer-compile-cache" and volume.primed  # one job fills it; replicas read it
    assert spec.engine["compile_cache_seed"] == "/cache/compile"  # copied from the volume at start ...
    assert spec.engine["compile_cache_dir"] == "/tmp/liftinfer-compile"  # ... into a writable root
    assert spec.env["FLASHINFER_WORKSPACE_BASE"] == "/tmp/liftinfer-compile/flashinfer"


def test_vllm_compile_cache_key_does_not_depend_on_home(tmp_path, monkeypatch):
    # vLLM hashes VLLM_CONFIG_ROOT and VLLM_XLA_CACHE_PATH into its torch.compile key; their defaults live
    # under HOME, so a prime job and a replica with different HOMEs would not share a compiled graph.
    from liftinfer.toggles.compile_cache import cache_environment

    monkeypatch.delenv("VLLM_CONFIG_ROOT", raising=False)
    envs = []
    for home in ("/home/prime", "/root"):
        monkeypatch.setenv("HOME", home)
        env = cache_environment(tmp_path / ("root" + home.replace("/", "-")))
        envs.append({k: env[k] for k in ("VLLM_CONFIG_ROOT", "VLLM_XLA_CACHE_PATH")})
    assert envs[0] == envs[1] and "/home" not in str(envs) and "/root" not in str(envs)
    monkeypatch.setenv("VLLM_CONFIG_ROOT", "/etc/vllm")  # a root the operator chose is kept
    assert cache_environment(tmp_path)["VLLM_CONFIG_ROOT"] == "/etc/vllm"


def test_compile_cache_root_can_be_set(tmp_path):
    config = EngineConfig(toggles=["compile-cache"], compile_cache_dir=tmp_path / "jit")
    assert plugins().toggle_changes(config, "vllm").environment["VLLM_CACHE_ROOT"] == str(Path(tmp_path / "jit/vllm"))


def test_eager_sets_enforce_eager_and_honours_the_original_env_switch(monkeypatch):
    monkeypatch.delenv("LIFTINFER_EAGER", raising=False)
    monkeypatch.delenv("VLLM_EAGER", raising=False)
    assert plugins().toggle_changes(EngineConfig(), "vllm").engine_options == {}
    monkeypatch.setenv("VLLM_EAGER", "1")
    changes = plugins().toggle_changes(EngineConfig(), "vllm")
    assert changes.toggles == ("eager",)
    assert changes.engine_options == {"enforce_eager": True}
    assert changes.apply_to(DeploymentSpec()).env["LIFTINFER_EAGER"] == "1"


def test_eager_with_compile_cache_is_legal_but_warns(monkeypatch):
    monkeypatch.delenv("VLLM_EAGER", raising=False)
    changes = plugins().toggle_changes(EngineConfig(toggles=["eager", "compile-cache"]), "vllm")
    assert changes.engine_options == {"enforce_eager": True}
    assert len(changes.warnings) == 1 and "compiles nothing" in changes.warnings[0]


def test_fast_load_reads_weights_in_parallel():
    options = plugins().toggle_changes(EngineConfig(toggles=["fast-load"]), "vllm").engine_options
    assert options.get("load_format") == "fastsafetensors" or options["safetensors_load_strategy"] == "prefetch"


def test_load_engine_applies_toggle_options_and_environment(tmp_path, monkeypatch):
    from liftinfer import hookimpl
    from liftinfer.backends import Backend
    from liftinfer.pluginmanager import load_engine
    from liftinfer.testing import FakeEngine

    class Fake:
        @hookimpl
        def liftinfer_register_backends(self, register):
            register(Backend(name="fake", load=lambda: FakeEngine))

    from liftinfer.toggles.compile_cache import cache_environment

    for name in ("VLLM_EAGER", *cache_environment("/")):
        monkeypatch.delenv(name, raising=False)
    p = plugins()
    p.register(Fake(), name="fake")
    engine = load_engine(EngineConfig(backend="fake", cache_dir=tmp_path, toggles=["eager", "compile-cache"]),
                         plugins=p)
    assert engine.options == {"enforce_eager": True}
    assert engine.toggles == ["compile-cache", "eager"]
    assert engine.health()["toggles"] == ["compile-cache", "eager"]
    import os

    assert os.environ["TRITON_CACHE_DIR"] == str(tmp_path / "compile" / "triton")
    engine.close()
