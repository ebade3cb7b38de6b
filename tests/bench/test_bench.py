"""``liftinfer bench``: the numbers it reports, and a real run on the embedded default model."""

import json

import pytest
from click.testing import CliRunner

from liftinfer.bench.workload import batch_report, is_valid, prompts


def test_tokens_per_second_is_over_all_rounds_not_an_average_of_rates():
    rounds = [{"s": 1.0, "tokens": 100, "valid": 4, "latencies": [10.0, 20.0]},
              {"s": 3.0, "tokens": 100, "valid": 3, "latencies": [30.0, 40.0]}]
    report = batch_report(rounds, n=4)
    assert report["tok_per_s"] == 50.0  # 200 tokens in 4 s (the mean of the two rates would be 66.7)
    assert report["rounds_tok_per_s"] == [100.0, 33.3]
    assert report["valid"] == 7 and report["n"] == 8 and report["rounds"] == 2
    assert report["s"] == 2.0  # the mean batch: the wall time to n valid objects
    assert report["p50_ms"] in (20.0, 30.0) and report["p99_ms"] == 40.0


def test_repeated_scenarios_pool_into_one_figure_each_with_its_ratio_to_raw():
    from liftinfer.bench.run import pooled

    def run(s: float, tokens: int, rounds: int = 2) -> dict:
        return {"json": {"s": s, "tokens": tokens, "tok_per_s": round(tokens / (s * rounds), 1), "valid": 60,
                         "n": 64 * rounds, "rounds": rounds}}

    results = {"raw": run(1.0, 2000), "primed": run(1.0, 1800), "raw#2": run(0.5, 1000),
               "primed#2": run(2.0, 4400), "http": run(1.0, 2000), "library:startup": {"ready_s": 3.0}}
    summary = pooled(results)
    assert summary["raw"]["processes"] == 2 and summary["raw"]["rounds"] == 4
    assert summary["raw"]["tok_per_s"] == 1000.0  # 3000 tokens in 3 s (the mean of 1000 and 1000 rates)
    assert summary["primed"]["tok_per_s"] == 1033.3  # 6200 tokens in 6 s, not the mean of 900 and 1100
    assert summary["primed"]["vs_raw"] == 1.033 and summary["http"]["vs_raw"] == 1.0
    assert summary["primed"]["process_tok_per_s"] == [900.0, 1100.0]
    assert "vs_raw" not in summary["raw"] and "library:startup" not in summary


def test_every_request_of_every_round_has_its_own_prompt():
    first = prompts(64)
    second = prompts(64, offset=64)
    assert len(set(first + second)) == 128
    assert first[0].startswith("Describe a Python function that will add two integers.")


def test_validity_is_the_workload_schema():
    ok = {"name": "add", "params": [{"name": "a", "type": "int"}], "returns": "int", "pure": True}
    assert is_valid(json.dumps(ok))
    assert not is_valid(json.dumps({**ok, "extra": 1}))
    assert not is_valid('{"name": "add"')


@pytest.mark.model
def test_bench_runs_scenarios_twice_and_writes_each(tmp_path, model_cache_dir, monkeypatch):
    from liftinfer.cli import cli

    monkeypatch.setenv("LIFTINFER_CACHE_DIR", str(model_cache_dir))
    out = tmp_path / "report.json"
    args = ["bench", "--backend", "transformers", "-n", "2", "--max-tokens", "96", "--rounds", "2",
            "--scenario", "library:startup", "--scenario", "library", "--scenario", "library:startup"]
    result = CliRunner().invoke(cli, [*args, "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "2 requests x 2" in result.output and "library:startup" in result.output
    report = json.loads(out.read_text())
    assert report["plan"]["rounds"] == 2
    assert report["results"]["library:startup"]["ready_s"] > 0
    assert "json" not in report["results"]["library:startup"]
    assert report["results"]["library:startup#2"]["ready_s"] > 0  # a scenario named twice is kept twice
    measured = report["results"]["library"]["json"]
    assert measured["n"] == 4 and len(measured["rounds_tok_per_s"]) == 2
    assert measured["tokens"] > 0 and 0 <= measured["valid"] <= 4
    assert report["results"]["library"]["free"]["rounds"] == 2  # as many free rounds as constrained ones
    assert report["results"]["library"]["startup"]["load_weights_ms"] > 0


@pytest.mark.model
def test_free_rounds_can_be_skipped_and_the_library_reports_its_own_time_per_request(tmp_path, model_cache_dir,
                                                                                     monkeypatch):
    from liftinfer.cli import cli

    monkeypatch.setenv("LIFTINFER_CACHE_DIR", str(model_cache_dir))
    out = tmp_path / "report.json"
    args = ["bench", "--backend", "transformers", "-n", "2", "--max-tokens", "64", "--free-rounds", "0",
            "--scenario", "library", "--scenario", "library", "--out", str(out)]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text())
    assert report["plan"]["free_rounds"] == 0
    for name in ("library", "library#2"):
        run = report["results"][name]
        assert "free" not in run and run["json"]["n"] == 2
        # checks, rendering and validation take some time, but far less than generating the tokens
        assert 0 < run["json"]["overhead_ms"]["p50"] < run["json"]["p50_ms"]
    assert report["pooled"]["library"]["processes"] == 2 and report["pooled"]["library"]["n"] == 4
    assert "pooled over each scenario's runs" in result.output


def test_free_rounds_cannot_be_negative():
    from liftinfer.cli import cli

    result = CliRunner().invoke(cli, ["bench", "--backend", "transformers", "--free-rounds", "-1"])
    assert result.exit_code == 2 and "--free-rounds" in result.output and "Traceback" not in result.output


def test_an_unknown_scenario_is_a_clear_error():
    from liftinfer.cli import cli

    result = CliRunner().invoke(cli, ["bench", "--backend", "transformers", "--scenario", "warp"])
    assert result.exit_code != 0
    assert "unknown scenario 'warp'" in result.output and "Traceback" not in result.output


@pytest.mark.model
def test_the_http_scenarios_measure_time_outside_the_engine_and_can_run_under_py_spy(tmp_path, model_cache_dir,
                                                                                   monkeypatch):
    import shutil

    from liftinfer.cli import cli

    monkeypatch.setenv("LIFTINFER_CACHE_DIR", str(model_cache_dir))
    out, profiles = tmp_path / "report.json", tmp_path / "prof"
    args = ["bench", "--backend", "transformers", "-n", "2", "--max-tokens", "96", "--scenario", "http",
            "--scenario", "http-two-loops", "--profile", str(profiles), "--out", str(out)]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text())["results"]
    for name in ("http", "http-two-loops"):
        measured = report[name]["json"]
        assert measured["n"] == 2 and measured["tokens"] > 0, report[name]
        assert 0 < measured["outside_engine_ms"]["p50"] < measured["p50_ms"]
    if shutil.which("py-spy"):  # not a dependency: without it the scenarios run unprofiled
        samples = (profiles / "http-server.txt").read_text()
        assert "liftinfer serve" in samples and "liftinfer-transformers" in samples


def test_raw_async_batches_run_concurrently_on_the_workers_own_loop():
    """The raw AsyncLLM scenario drives a loop of its own from a thread with no current loop."""
    import asyncio
    import threading

    from liftinfer.bench.worker import gather_on

    loop, seen, out = asyncio.new_event_loop(), [], {}

    async def one(i: int) -> int:
        seen.append(asyncio.get_running_loop())
        await asyncio.sleep(0.01 * (3 - i))  # the first finishes last: results keep the order given
        return i

    def drive() -> None:
        out["results"] = gather_on(loop, [one(i) for i in range(3)])
        out["again"] = gather_on(loop, [one(i) for i in range(2)])  # the same loop serves the next batch

    thread = threading.Thread(target=drive)
    thread.start()
    thread.join(10)
    loop.close()
    assert out == {"results": [0, 1, 2], "again": [0, 1]}
    assert all(running is loop for running in seen) and len(seen) == 5
