"""The shared engine path, on an engine whose 'model' is a function (the real model is in backends/)."""

import asyncio
import json
import threading

import pytest
from pydantic import BaseModel

from liftinfer.config import EngineConfig
from liftinfer.engine.base import make_request
from liftinfer.errors import NotReady, OutputInvalid, Overloaded, RequestError, UnsupportedSchema
from liftinfer.testing import FakeEngine
from tests.conftest import PERSON, WhereEngine


class Person(BaseModel):
    name: str
    age: int


def engine_with(respond, tmp_path, **config):
    engine = FakeEngine(respond, config=EngineConfig(cache_dir=tmp_path, **config))
    return engine.load()


def test_generate_returns_validated_data_and_timings(tmp_path):
    engine = engine_with({"name": "Ann", "age": 3}, tmp_path)
    result = engine.generate("a person", schema=PERSON)
    assert result.data == {"name": "Ann", "age": 3}
    assert result.finish_reason == "stop"
    assert result.usage.total_tokens == result.usage.prompt_tokens + result.usage.completion_tokens
    assert result.timings.total_ms >= result.timings.generate_ms
    assert result.backend == "fake" and result.model == "fake-model"
    assert not result.grammar_cache_hit
    assert engine.generate("again", schema=PERSON).grammar_cache_hit


def test_pydantic_model_schema_gives_a_parsed_instance(tmp_path):
    engine = engine_with({"name": "Ann", "age": 3}, tmp_path)
    result = engine.generate("a person", schema=Person)
    assert result.parsed == Person(name="Ann", age=3)
    assert "parsed" not in result.to_api()


def test_output_that_does_not_validate_is_an_error_not_a_result(tmp_path):
    engine = engine_with({"name": "Ann"}, tmp_path)
    with pytest.raises(OutputInvalid, match="'age' is a required property") as info:
        engine.generate("a person", schema=PERSON)
    assert info.value.status == 422
    assert info.value.details["completion_tokens"] == len('{"name": "Ann"}') // 4  # what was generated


def test_non_strict_retries_once_with_another_seed_then_fails(tmp_path):
    seen = []

    def respond(prepared):
        seen.append((prepared.seed, prepared.temperature))
        return "[1,1]" if len(seen) == 1 else "[1,2]"

    engine = engine_with(respond, tmp_path)
    schema = {"type": "array", "items": {"type": "integer"}, "uniqueItems": True}
    with pytest.raises(UnsupportedSchema):
        engine.generate("x", schema=schema)
    result = engine.generate("x", schema=schema, strict=False, seed=7)
    assert result.data == [1, 2] and result.attempts == 2
    assert seen == [(7, 0.0), (8, 0.7)]
    seen.clear()
    always_bad = engine_with(lambda p: "[1,1]", tmp_path)
    with pytest.raises(OutputInvalid) as info:
        always_bad.generate("x", schema=schema, strict=False)
    assert info.value.details["attempts"] == 2


@pytest.mark.parametrize("fields, field", [
    ({"schema": PERSON}, "prompt"),
    ({"prompt": "x"}, "schema"),
    ({"prompt": "x", "schema": PERSON, "max_tokens": 0}, "max_tokens"),
    ({"prompt": "x", "schema": PERSON, "temperature": 3}, "temperature"),
    ({"prompt": "x", "schema": PERSON, "top_p": 0}, "top_p"),
    ({"prompt": "x", "schema": "not a dict"}, "schema"),
    ({"prompt": "x", "messages": [{"role": "user", "content": "y"}], "schema": PERSON}, "prompt"),
    ({"messages": [{"role": "robot", "content": "y"}], "schema": PERSON}, "messages.0.role"),
])
def test_bad_requests_name_the_field(fields, field):
    with pytest.raises(RequestError) as info:
        make_request(**fields)
    assert info.value.field == field
    assert info.value.status == 400


def test_limits_from_the_config(tmp_path):
    engine = engine_with({"name": "A", "age": 1}, tmp_path, max_tokens_limit=64, max_prompt_chars=10)
    with pytest.raises(RequestError, match="at most 64") as info:
        engine.generate("x", schema=PERSON, max_tokens=65)
    assert info.value.field == "max_tokens"
    with pytest.raises(RequestError, match="limit is 10"):
        engine.generate("x" * 11, schema=PERSON)


def test_batch_keeps_order_and_returns_errors_in_place(tmp_path):
    def respond(prepared):
        return json.dumps({"name": prepared.request.prompt, "age": 1}) if prepared.request.prompt != "bad" else "{"

    engine = engine_with(respond, tmp_path)
    results = engine.generate_batch([{"prompt": p, "schema": PERSON} for p in ("a", "bad", "c")])
    assert results[0].data["name"] == "a" and results[2].data["name"] == "c"
    assert isinstance(results[1], OutputInvalid)
    with pytest.raises(OutputInvalid):
        engine.generate_batch([{"prompt": "bad", "schema": PERSON}], return_exceptions=False)


def test_requests_over_the_queue_limit_are_refused_with_retry_after(tmp_path):
    gate = threading.Event()

    class Slow(FakeEngine):
        async def _complete(self, prepared):
            await asyncio.to_thread(gate.wait, 5)
            return await super()._complete(prepared)

    engine = Slow({"name": "A", "age": 1}, config=EngineConfig(cache_dir=tmp_path, max_queue=2)).load()
    threads = [threading.Thread(target=engine.generate, args=("x",), kwargs={"schema": PERSON}) for _ in range(2)]
    for t in threads:
        t.start()
    while engine.health()["in_flight"] < 2:
        pass
    with pytest.raises(Overloaded) as info:
        engine.generate("x", schema=PERSON)
    assert info.value.headers["Retry-After"] == "1"
    gate.set()
    for t in threads:
        t.join()
    assert engine.generate("x", schema=PERSON).data == {"name": "A", "age": 1}


def test_warmup_is_idempotent_and_health_reports_it(tmp_path):
    engine = FakeEngine({"ok": True}, config=EngineConfig(cache_dir=tmp_path))
    assert engine.health()["ready"] is False
    first = engine.warmup()
    assert first["warm"] and not first["already_warm"]
    assert engine.warmup()["already_warm"]
    health = engine.health()
    assert health["ready"] and health["warm"] and health["status"] == "ready"
    assert "total_ms" in health["startup"]


def test_closed_engine_refuses_requests(tmp_path):
    engine = engine_with({"name": "A", "age": 1}, tmp_path)
    engine.close()
    with pytest.raises(NotReady):
        engine.generate("x", schema=PERSON)


def test_async_generate_from_another_event_loop(tmp_path):
    engine = engine_with({"name": "A", "age": 1}, tmp_path)

    async def main():
        return await asyncio.gather(*(engine.agenerate(make_request(prompt="x", schema=PERSON)) for _ in range(5)))

    results = asyncio.run(main())
    assert [r.data["age"] for r in results] == [1] * 5


def test_a_failed_load_is_reported_in_health(tmp_path):
    class Broken(FakeEngine):
        def _load(self):
            raise RuntimeError("weights missing")

    engine = Broken(config=EngineConfig(cache_dir=tmp_path))
    with pytest.raises(RuntimeError):
        engine.load()
    assert engine.health()["status"] == "failed"
    assert "weights missing" in engine.health()["error"]


def test_an_attached_loop_runs_the_requests_and_survives_the_engine(tmp_path):
    engine = WhereEngine({"name": "A", "age": 1}, config=EngineConfig(cache_dir=tmp_path)).load()

    async def main():
        loop = asyncio.get_running_loop()
        assert engine.attach_loop(loop)
        result = await engine.agenerate(make_request(prompt="x", schema=PERSON))
        # a synchronous call from another thread still works: it runs on this loop, which keeps going
        from_thread = await asyncio.to_thread(engine.generate, "y", schema=PERSON)
        await asyncio.to_thread(engine.close)  # closing the engine does not stop a loop it was lent
        await asyncio.sleep(0)
        return loop, result, from_thread

    loop, result, from_thread = asyncio.run(main())
    assert result.data == from_thread.data == {"name": "A", "age": 1}
    assert engine.loops == [loop, loop]


def test_a_synchronous_call_on_the_attached_loop_is_an_error_not_a_deadlock(tmp_path):
    engine = engine_with({"name": "A", "age": 1}, tmp_path)

    async def main():
        engine.attach_loop(asyncio.get_running_loop())
        with pytest.raises(RuntimeError, match="would deadlock"):
            engine.generate("x", schema=PERSON)

    asyncio.run(main())


def test_an_engine_that_ran_on_its_own_loop_keeps_it_and_a_detached_one_starts_its_own(tmp_path):
    engine = WhereEngine({"name": "A", "age": 1}, config=EngineConfig(cache_dir=tmp_path)).load()
    engine.generate("x", schema=PERSON)
    own = engine.loops[0]

    async def attach():
        return engine.attach_loop(asyncio.get_running_loop())

    assert asyncio.run(attach()) is False  # its backend's tasks may belong to the loop they started on
    engine.generate("y", schema=PERSON)
    assert engine.loops[1] is own

    fresh = WhereEngine({"name": "A", "age": 1}, config=EngineConfig(cache_dir=tmp_path)).load()

    async def lend_and_take_back():
        loop = asyncio.get_running_loop()
        fresh.attach_loop(loop)
        await fresh.agenerate(make_request(prompt="x", schema=PERSON))
        fresh.detach_loop(loop)
        return loop

    lent = asyncio.run(lend_and_take_back())  # that loop is closed now
    assert fresh.generate("y", schema=PERSON).data["age"] == 1
    assert fresh.loops[0] is lent and fresh.loops[1] is not lent
