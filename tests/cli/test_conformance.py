import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from liftinfer.cli import cli

DATA = Path(__file__).parent.parent / "data" / "conformance"


@pytest.mark.grammar
def test_json_summary_is_the_last_line_and_rows_go_to_a_file(tmp_path):
    pytest.importorskip("llguidance")
    rows = tmp_path / "rows.jsonl"
    out = tmp_path / "summary.json"
    result = CliRunner().invoke(
        cli,
        [
            "conformance",
            str(DATA / "test-suite"),
            "--vocabulary",
            "bytes",
            "--json",
            "--compile-timeout",
            "120",
            "--rows",
            str(rows),
            "--output",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output.strip().splitlines()[-1])
    assert summary["schemas"] == 6 and summary["baseline"]["schemas"] == 6
    assert json.loads(out.read_text())["all_tests_pass"] == summary["all_tests_pass"]
    assert len(rows.read_text().splitlines()) == 12


def test_a_folder_without_cases_is_a_one_line_error(tmp_path):
    (tmp_path / "a.json").write_text("[1, 2]")
    result = CliRunner().invoke(
        cli, ["conformance", str(tmp_path), "--format", "maskbench", "--vocabulary", "bytes"]
    )
    assert result.exit_code == 2
    assert "is not a maskbench file" in result.output and "Traceback" not in result.output
