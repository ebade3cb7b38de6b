"""Folders of schemas with test instances, in the two formats liftinfer reads.

- ``maskbench``: one file per schema, ``{"schema": ..., "tests": [{"data": ..., "valid": bool}, ...]}``
  (JSONSchemaBench's MaskBench; ``description`` and ``meta`` are optional).
- ``test-suite``: the JSON-Schema-Test-Suite, files holding lists of groups ``{"description", "schema",
  "tests": [{"description", "data", "valid"}]}``; each group is one schema. Only the folder's own files
  are read (point at ``optional/`` separately).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from liftinfer.errors import ConfigError

FORMATS = ("maskbench", "test-suite")


@dataclass
class Instance:
    data: Any
    valid: bool
    description: str = ""


@dataclass
class Case:
    """One schema and the instances that must (valid) or must not (invalid) get through it."""

    name: str
    schema: Any
    instances: list[Instance] = field(default_factory=list)


def detect_format(path: Path) -> str:
    """``maskbench`` when the first file holds an object with ``tests``, else ``test-suite``."""
    for file in _files(path):
        content = _read(file)
        return "maskbench" if isinstance(content, dict) and "tests" in content else "test-suite"
    raise ConfigError(f"no .json files in {path}", field="path")


def load_cases(path: Path, fmt: str | None = None) -> list[Case]:
    """Every case under ``path`` (a folder or one file), in file-name order."""
    fmt = fmt or detect_format(path)
    if fmt not in FORMATS:
        raise ConfigError(f"unknown format {fmt!r}: use one of {', '.join(FORMATS)}", field="format")
    cases: list[Case] = []
    for file in _files(path):
        content = _read(file)
        if fmt == "maskbench":
            cases.append(_maskbench_case(file, content))
        else:
            cases.extend(_suite_cases(file, content))
    if not cases:
        raise ConfigError(f"no cases in {path}", field="path")
    return cases


def _files(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise ConfigError(f"{path} is neither a folder nor a file", field="path")
    return sorted(p for p in path.iterdir() if p.suffix == ".json" and p.is_file())


def _read(file: Path) -> Any:
    try:
        return json.loads(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError(f"cannot read {file}: {exc}", field="path") from None


def _maskbench_case(file: Path, content: Any) -> Case:
    if not isinstance(content, dict) or "schema" not in content or not isinstance(content.get("tests"), list):
        raise ConfigError(f"{file} is not a maskbench file (needs 'schema' and a 'tests' list)", field="path")
    instances = [Instance(t["data"], bool(t["valid"]), t.get("description", "")) for t in content["tests"]]
    return Case(file.name, content["schema"], instances)


def _suite_cases(file: Path, content: Any) -> list[Case]:
    if not isinstance(content, list):
        raise ConfigError(
            f"{file} is not a JSON-Schema-Test-Suite file (needs a list of groups)", field="path"
        )
    cases = []
    for index, group in enumerate(content):
        instances = [Instance(t["data"], bool(t["valid"]), t.get("description", "")) for t in group["tests"]]
        name = f"{file.name}#{index} {group.get('description', '')}".strip()
        cases.append(Case(name, group["schema"], instances))
    return cases
