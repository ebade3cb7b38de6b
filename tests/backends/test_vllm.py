"""The vLLM backend's translation of config and requests, checked without vLLM (it needs a GPU)."""

import importlib.util

import pytest

from liftinfer.backends import vllm as backend
from liftinfer.backends.vllm_startup import StartupLog
from liftinfer.config import EngineConfig
from liftinfer.constraints.builder import ConstraintBuilder
from liftinfer.engine.base import PreparedRequest, make_request
from liftinfer.errors import ConfigError, MissingDependency
from liftinfer.pluginmanager import Plugins, load_engine
from tests.conftest import PERSON


def test_engine_kwargs_carry_config_and_options():
    config = EngineConfig(max_model_len=2048, max_batch_size=128)
    kwargs = backend.engine_kwargs(config, {"enforce_eager": True, "gpu_memory_utilization": 0.6}, "/m")
    assert kwargs["model"] == kwargs["tokenizer"] == "/m"
    assert kwargs["dtype"] == "bfloat16"
    assert kwargs["max_model_len"] == 2048 and kwargs["max_num_seqs"] == 128
    assert kwargs["enforce_eager"] is True and kwargs["gpu_memory_utilization"] == 0.6
    assert kwargs["structured_outputs_config"] == {"backend": backend.DEFAULT_GRAMMAR_BACKEND,
                                                   "disable_any_whitespace": True}


def test_vllm_defaults_hold_where_liftinfer_sets_nothing():
    kwargs = backend.engine_kwargs(EngineConfig(), {}, "/m")
    for key in ("gpu_memory_utilization", "enforce_eager", "tensor_parallel_size", "max_num_seqs"):
        assert key not in kwargs


def test_grammar_backend_is_a_config_choice():
    kwargs = backend.engine_kwargs(EngineConfig(grammar_backend="xgrammar", compact_json=False), {}, "/m")
    assert kwargs["structured_outputs_config"] == {"backend": "xgrammar", "disable_any_whitespace": False}
    kwargs = backend.engine_kwargs(EngineConfig(), {"grammar_backend": "xgrammar"}, "/m")
    assert kwargs["structured_outputs_config"]["backend"] == "xgrammar" and "grammar_backend" not in kwargs
    with pytest.raises(ConfigError, match="not one of xgrammar, guidance"):
        backend.engine_kwargs(EngineConfig(grammar_backend="outlines"), {}, "/m")


def test_a_backend_named_in_vllms_own_option_is_the_one_liftinfer_compiles_for(tmp_path):
    options = {"structured_outputs_config": {"backend": "xgrammar", "reasoning_parser": ""}}
    kwargs = backend.engine_kwargs(EngineConfig(), options, "/m")
    assert kwargs["structured_outputs_config"]["backend"] == "xgrammar"
    assert kwargs["structured_outputs_config"]["reasoning_parser"] == ""
    engine = backend.VLLMEngine(EngineConfig(cache_dir=tmp_path), options=options,
                                plugins=Plugins(entry_points=False))
    assert engine.grammar_engines() == ("xgrammar",)  # the schema checks and vLLM agree on the engine
    with pytest.raises(ConfigError, match="'outlines' is not one of"):
        backend.engine_kwargs(EngineConfig(), {"structured_outputs_config": {"backend": "outlines"}}, "/m")


def test_sampling_kwargs_from_a_request():
    request = make_request(prompt="x", schema=PERSON, temperature=0.5, top_p=0.9, seed=3, stop="END")
    constraint = ConstraintBuilder(None).build(PERSON)
    kwargs = backend.sampling_kwargs(PreparedRequest(request, constraint, 100, 0.5, 3))
    assert kwargs == {"max_tokens": 100, "temperature": 0.5, "top_p": 0.9, "seed": 3, "stop": ["END"],
                      "structured_outputs": {"json": PERSON}}
    free = backend.sampling_kwargs(PreparedRequest(request, None, 10, 0.0, None))
    assert "structured_outputs" not in free


@pytest.mark.parametrize("reason, stop, expected", [
    ("length", None, "length"), ("stop", None, "stop"), ("stop", "END", "stop_string"), ("stop", 2, "stop"),
])
def test_finish_reasons(reason, stop, expected):
    assert backend.finish_reason(reason, stop) == expected


def test_startup_phases_are_read_from_vllm_log_lines():
    log = StartupLog.__new__(StartupLog)
    log.events = []
    log.settle = lambda timeout=2.0: None
    mark = log.mark()
    for line in ("(EngineCore pid=1) INFO [default_loader.py:431] Loading weights took 0.21 seconds",
                 "INFO Model loading took 0.27 GiB memory and 1.532000 seconds",
                 "INFO [monitor.py:53] torch.compile took 3.95 s in total",
                 "INFO Graph capturing finished in 6 secs, took 0.41 GiB",
                 "INFO init engine (profile, create kv cache, warmup model) took 19.87 s",
                 "INFO unrelated line"):
        log.feed(line)
    assert log.phases(since=mark) == {"load_weights_ms": 210.0, "model_loading_ms": 1532.0,
                                      "torch_compile_ms": 3950.0, "graph_capture_ms": 6000.0,
                                      "engine_init_ms": 19870.0}


@pytest.mark.skipif(importlib.util.find_spec("vllm") is not None, reason="vLLM is installed here")
def test_without_vllm_the_backend_says_which_extra_to_install(tmp_path):
    plugins = Plugins(entry_points=False, disabled=set())
    assert "pip install 'liftinfer[vllm]'" in plugins.backends()["vllm"].unavailable()
    with pytest.raises(ConfigError, match="liftinfer\\[vllm\\]"):
        load_engine(EngineConfig(backend="vllm", cache_dir=tmp_path), plugins=plugins)
    engine = backend.VLLMEngine(EngineConfig(backend="vllm", cache_dir=tmp_path), plugins=plugins)
    with pytest.raises(MissingDependency, match="liftinfer\\[vllm\\]"):
        engine._load()


def test_vllm_gets_the_schema_normalised_for_its_grammar_engine():
    draft7 = {"$schema": "http://json-schema.org/draft-07/schema#", "type": "object",
              "properties": {"when": {"$ref": "#/definitions/day"}}, "required": ["when"],
              "definitions": {"day": {"type": "string", "format": "date"}}}
    request = make_request(prompt="x", schema=draft7)
    constraint = ConstraintBuilder(None, engines=("llguidance",)).build(draft7)
    sent = backend.sampling_kwargs(PreparedRequest(request, constraint, 10, 0.0, None))["structured_outputs"]["json"]
    assert "definitions" not in sent and "day" in sent["$defs"]  # refs resolved into 2020-12 form
    assert sent["additionalProperties"] is False  # generation closes open objects
    assert constraint.enforcement["engine"] == "llguidance"


def test_the_grammar_engine_follows_vllms_structured_output_backend(tmp_path):
    guidance = backend.VLLMEngine(EngineConfig(cache_dir=tmp_path), plugins=Plugins(entry_points=False))
    assert guidance.grammar_engines() == ("llguidance",)
    xgr = backend.VLLMEngine(EngineConfig(cache_dir=tmp_path, grammar_backend="xgrammar"),
                             plugins=Plugins(entry_points=False))
    assert xgr.grammar_engines() == ("xgrammar",)


def test_the_settings_vllm_resolved_are_reported_for_the_bench_and_health():
    from types import SimpleNamespace

    from liftinfer.backends.vllm import resolved_settings

    config = SimpleNamespace(
        scheduler_config=SimpleNamespace(max_num_seqs=1024, max_num_batched_tokens=8192, async_scheduling=True),
        structured_outputs_config=SimpleNamespace(backend="guidance"),
        model_config=SimpleNamespace(enforce_eager=False, max_model_len=4096))
    assert resolved_settings(config) == {"max_num_seqs": 1024, "max_num_batched_tokens": 8192,
                                         "async_scheduling": True, "max_model_len": 4096,
                                         "grammar_backend": "guidance", "enforce_eager": False}


@pytest.mark.parametrize(("fields", "named"), [({"prompt": "word " * 60}, "prompt"),
                                              ({"messages": [{"role": "user", "content": "word " * 60}]},
                                               "messages")])
def test_a_prompt_that_cannot_fit_the_context_is_a_request_error_before_vllm_sees_it(tmp_path, fields, named):
    import asyncio

    from liftinfer.errors import RequestError

    class WordTokenizer:  # vLLM's tokenizer cannot load here; one token a word is enough to count
        def apply_chat_template(self, chat, tokenize, add_generation_prompt):
            return " ".join(m["content"] for m in chat)

        def __call__(self, text, add_special_tokens):
            return {"input_ids": list(range(len(text.split())))}

    engine = backend.VLLMEngine(EngineConfig(cache_dir=tmp_path), plugins=Plugins(entry_points=False))
    engine.tokenizer, engine.settings = WordTokenizer(), {"max_model_len": 100}
    request = make_request(schema={"type": "object"}, **fields)
    fits = PreparedRequest(request, None, max_tokens=40, temperature=0.0, seed=None)
    fits.check_fits(60, 100)  # 60 + 40: exactly the context
    with pytest.raises(RequestError) as caught:
        asyncio.run(engine._complete(PreparedRequest(request, None, max_tokens=41, temperature=0.0, seed=None)))
    assert caught.value.field == named
    assert "prompt is 60 tokens; with max_tokens 41 it exceeds the model's context of 100 tokens" in str(caught.value)
