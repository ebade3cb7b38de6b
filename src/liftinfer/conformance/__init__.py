"""``liftinfer conformance``: a model-free check of the constraint layer over schemas with test instances.

For each schema: check and compile it as a request would (within the compile time limit), then feed
every test instance through the compiled grammar. A schema passes (``all_tests_pass``) when it compiled,
every valid instance was accepted and every invalid one rejected. Raw xgrammar runs over the same files
in the same invocation as the baseline.
"""

from __future__ import annotations

import json
import platform
import time
from pathlib import Path
from typing import Any

from liftinfer.conformance.corpus import Case, detect_format, load_cases
from liftinfer.conformance.report import summarise
from liftinfer.conformance.runner import SUBJECTS, Setup, run_cases, setup_dict

__all__ = ["Case", "Setup", "detect_format", "load_cases", "run_conformance", "versions"]


def versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    found = {"python": platform.python_version()}
    for package in ("liftinfer", "xgrammar", "llguidance", "jsonschema"):
        try:
            found[package] = version(package)
        except PackageNotFoundError:
            found[package] = "not installed"
    return found


def run_conformance(
    path: Path,
    setup: Setup,
    *,
    fmt: str | None = None,
    baseline: bool = True,
    limit: int | None = None,
    machine: str | None = None,
    progress: Any = None,
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The summary (liftinfer's counts at the top, raw xgrammar's under ``baseline``) and the rows."""
    fmt = fmt or detect_format(path)
    cases = load_cases(path, fmt)[:limit] if limit else load_cases(path, fmt)
    subjects = SUBJECTS if baseline else ("liftinfer",)
    start = time.perf_counter()
    rows = run_cases(cases, setup, subjects, progress)
    ours = summarise(rows, "liftinfer")
    result: dict[str, Any] = {
        **ours,
        "path": str(path),
        "format": fmt,
        "machine": machine or f"{platform.machine()} CPU, {_cores()} cores",
        "date": time.strftime("%Y-%m-%d"),
        "versions": versions(),
        "setup": setup_dict(setup),
        "elapsed_s": round(time.perf_counter() - start, 1),
        "liftinfer": ours,
    }
    if baseline:
        result["baseline"] = {
            "subject": "raw xgrammar: the user's schema as is, compact, strict_mode=False",
            **summarise(rows, "xgrammar"),
        }
    return result, rows


def _cores() -> int:
    import os

    return os.cpu_count() or 1


def write_rows(rows: list[dict[str, Any]], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as out:
        for row in rows:
            out.write(json.dumps({k: v for k, v in row.items() if k != "dirty"}, ensure_ascii=False) + "\n")
