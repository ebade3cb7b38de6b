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
    assert report["results"]["library"]["startup"]["load_weights_ms"] > 0


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
