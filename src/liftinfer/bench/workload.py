"""The benchmark workload: the device probe's function-signature schema and tasks (``shared/device``)."""

from __future__ import annotations

import functools
from typing import Any

SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "maxLength": 40},
        "params": {"type": "array", "maxItems": 4, "items": {
            "type": "object",
            "properties": {"name": {"type": "string", "maxLength": 20},
                           "type": {"enum": ["int", "str", "float", "bool", "list"]}},
            "required": ["name", "type"], "additionalProperties": False}},
        "returns": {"enum": ["int", "str", "float", "bool", "list", "none"]},
        "pure": {"type": "boolean"},
    },
    "required": ["name", "params", "returns", "pure"],
    "additionalProperties": False,
}

TASKS = ["add two integers", "reverse a string", "check if a number is prime", "average of a list of floats",
         "count words in a sentence", "convert celsius to fahrenheit", "merge two sorted lists",
         "is a year a leap year"]


def prompt(i: int) -> str:
    """The probe's eight prompts first; later ones are numbered so that every request is distinct.

    Distinct prompts keep greedy decoding from repeating eight outputs many times over, which made
    token counts (and tokens/s) swing with a single output on random-weight models.
    """
    task = TASKS[i % len(TASKS)]
    text = f"Describe a Python function that will {task}. Answer with JSON: name, params, returns, pure."
    return text if i < len(TASKS) else f"{text} Request #{i}."


def prompts(n: int, offset: int = 0) -> list[str]:
    """``n`` prompts from ``offset`` on: round ``r`` of a benchmark uses ``prompts(n, r * n)``."""
    return [prompt(i) for i in range(offset, offset + n)]


def is_valid(text: str) -> bool:
    """Whether ``text`` parses as JSON and validates against the workload's schema."""
    import json

    try:
        return bool(_validator().is_valid(json.loads(text)))
    except ValueError:
        return False


@functools.cache
def _validator() -> Any:
    from jsonschema import Draft202012Validator

    return Draft202012Validator(SCHEMA)


def percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def batch_report(rounds: list[dict[str, Any]], n: int) -> dict[str, Any]:
    """One figure over repeated batches: tokens/s is all tokens over all batch time; per-round rates kept.

    Each round is ``{"s", "tokens", "valid", "latencies"}``; a single short batch (under a second on a GPU)
    is mostly noise, so ``liftinfer bench --rounds`` repeats it in the same process.
    """
    seconds = sum(r["s"] for r in rounds)
    tokens = sum(r["tokens"] for r in rounds)
    latencies = [ms for r in rounds for ms in r.get("latencies", [])]
    report: dict[str, Any] = {"s": round(seconds / len(rounds), 3), "tokens": tokens,
                              "tok_per_s": round(tokens / seconds, 1) if seconds else 0.0,
                              "valid": sum(r.get("valid", 0) for r in rounds), "n": n * len(rounds),
                              "rounds": len(rounds)}
    if len(rounds) > 1:
        report["rounds_tok_per_s"] = [round(r["tokens"] / r["s"], 1) for r in rounds]
    if latencies:
        report["p50_ms"] = round(percentile(latencies, 50), 1)
        report["p99_ms"] = round(percentile(latencies, 99), 1)
    return report
