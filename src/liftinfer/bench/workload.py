"""The benchmark workload: the device probe's function-signature schema and tasks (``shared/device``)."""

from __future__ import annotations

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
    task = TASKS[i % len(TASKS)]
    return f"Describe a Python function that will {task}. Answer with JSON: name, params, returns, pure."


def prompts(n: int) -> list[str]:
    return [prompt(i) for i in range(n)]


def percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]
