"""The conformance run end to end on a small committed sample (a 256-byte vocabulary keeps it quick)."""

from pathlib import Path

import pytest

from liftinfer.conformance import run_conformance
from liftinfer.conformance.runner import Setup

DATA = Path(__file__).parent.parent / "data" / "conformance"
pytestmark = pytest.mark.grammar


@pytest.fixture(scope="module")
def maskbench():
    pytest.importorskip("llguidance")
    return run_conformance(
        DATA / "maskbench", Setup(vocabulary="bytes", compile_timeout_s=120), machine="test"
    )


def test_summary_has_the_counts_the_issue_asks_for(maskbench):
    result, rows = maskbench
    for key in (
        "schemas",
        "compiled",
        "all_tests_pass",
        "wrongly_rejected_valid",
        "wrongly_accepted_invalid",
        "unsupported",
        "compile_ms_p50",
        "compile_ms_p99",
    ):
        assert key in result and key in result["baseline"]
    assert result["schemas"] == 4 and len(rows) == 8


def test_liftinfer_passes_the_sample_and_beats_raw_xgrammar(maskbench):
    result, _ = maskbench
    assert result["all_tests_pass"] == 4
    assert result["baseline"]["all_tests_pass"] < result["all_tests_pass"]


def test_no_invalid_instance_is_ever_returned_end_to_end(maskbench):
    result, _ = maskbench
    assert result["end_to_end"]["invalid_returned"] == 0
    assert result["strict"]["wrongly_accepted_invalid"] == 0


def test_test_suite_sample_reports_refusals_with_their_reasons():
    result, rows = run_conformance(
        DATA / "test-suite", Setup(vocabulary="bytes", compile_timeout_s=120), baseline=False
    )
    assert result["schemas"] == 6 and "baseline" not in result
    ours = [r for r in rows if r["subject"] == "liftinfer"]
    negated = next(r for r in ours if "#3 " in r["name"])  # {"not": {"type": "integer"}}
    assert negated["validation_only"] == ["not"] and negated["wrongly_accepted_invalid"] == 1
    assert result["end_to_end"]["invalid_returned"] == 0
