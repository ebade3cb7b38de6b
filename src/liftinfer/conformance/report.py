"""Summaries of conformance rows: the counts the issue asks for, per subject, and the table."""

from __future__ import annotations

import math
from collections import Counter
from typing import Any


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (0 for no values)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return round(ordered[rank - 1], 1)


def summarise(rows: list[dict[str, Any]], subject: str) -> dict[str, Any]:
    """The summary for one subject's rows (grammar-level counts; end-to-end counts for liftinfer)."""
    mine = [r for r in rows if r["subject"] == subject]
    compiled = [r for r in mine if r["status"] == "compiled"]
    refused = [r for r in mine if r["status"] != "compiled"]
    times = [r["compile_ms"] for r in mine if r["error_type"] not in ("timeout", "harness_timeout")]
    summary: dict[str, Any] = {
        "schemas": len(mine),
        "compiled": len(compiled),
        "all_tests_pass": sum(r["passed"] for r in compiled),
        "wrongly_rejected_valid": sum(r["wrongly_rejected_valid"] for r in compiled),
        "wrongly_accepted_invalid": sum(r["wrongly_accepted_invalid"] for r in compiled),
        "schemas_wrongly_rejecting": sum(r["wrongly_rejected_valid"] > 0 for r in compiled),
        "schemas_wrongly_accepting": sum(r["wrongly_accepted_invalid"] > 0 for r in compiled),
        "unsupported": len(refused),
        "unsupported_by_type": dict(Counter(r["error_type"] for r in refused).most_common()),
        "compile_ms_p50": percentile(times, 50),
        "compile_ms_p99": percentile(times, 99),
        "tests": sum(r["tests"] for r in mine),
        "tests_on_compiled": sum(r["tests"] for r in compiled),
        "search_exhausted": sum(r["search_exhausted"] for r in compiled),
    }
    summary["all_tests_pass_rate"] = round(summary["all_tests_pass"] / len(mine), 4) if mine else 0.0
    if subject == "liftinfer":
        summary["engines"] = dict(Counter(r["engine"] for r in compiled).most_common())
        summary["end_to_end"] = {
            "invalid_returned": sum(r["invalid_returned"] for r in compiled),
            "valid_refused_by_validation": sum(r["valid_refused_by_validation"] for r in compiled),
        }
        summary["strict"] = _strict(mine)
        summary["validation_only_keywords"] = dict(
            Counter(k for r in compiled for k in r["validation_only"]).most_common()
        )
    return summary


def _strict(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """What strict requests (the default) get: schemas with validation-only keywords are refused (422)."""
    exact = [r for r in rows if r["status"] == "compiled" and not r["validation_only"]]
    return {
        "compiled": len(exact),
        "all_tests_pass": sum(r["passed"] for r in exact),
        "wrongly_rejected_valid": sum(r["wrongly_rejected_valid"] for r in exact),
        "wrongly_accepted_invalid": sum(r["wrongly_accepted_invalid"] for r in exact),
        "unsupported": len(rows) - len(exact),
    }


COLUMNS = (
    "schemas",
    "compiled",
    "all_tests_pass",
    "wrongly_rejected_valid",
    "wrongly_accepted_invalid",
    "unsupported",
    "compile_ms_p50",
    "compile_ms_p99",
)


def table_rows(result: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(label, summary) for each line of the printed table."""
    lines = [("liftinfer (strict: false)", result["liftinfer"])]
    strict = result["liftinfer"].get("strict")
    if strict:
        lines.append(
            (
                "liftinfer (strict: true)",
                {**result["liftinfer"], **strict, "compile_ms_p50": "", "compile_ms_p99": ""},
            )
        )
    if "baseline" in result:
        lines.append((f"raw xgrammar {result['versions'].get('xgrammar', '')}", result["baseline"]))
    return lines


def print_table(result: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"Schema conformance: {result['path']} ({result['format']})")
    table.add_column("subject")
    for column in COLUMNS:
        table.add_column(column.replace("_", " "), justify="right")
    for label, summary in table_rows(result):
        cells = [label]
        for column in COLUMNS:
            value = summary.get(column, "")
            if column == "all_tests_pass" and summary.get("schemas"):
                value = f"{value} ({value / summary['schemas']:.1%})"
            cells.append(str(value))
        table.add_row(*cells)
    console = Console(highlight=False, width=max(Console().width, 150))
    console.print(table)
    e2e = result["liftinfer"].get("end_to_end")
    if e2e:
        console.print(
            f"end to end (grammar + post-validation): {e2e['invalid_returned']} invalid instances "
            f"returned; {e2e['valid_refused_by_validation']} valid instances refused by validation"
        )
