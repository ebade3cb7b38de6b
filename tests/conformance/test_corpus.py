from pathlib import Path

import pytest

from liftinfer.conformance.corpus import detect_format, load_cases
from liftinfer.errors import ConfigError

DATA = Path(__file__).parent.parent / "data" / "conformance"


def test_maskbench_folder_gives_one_case_per_file():
    assert detect_format(DATA / "maskbench") == "maskbench"
    cases = load_cases(DATA / "maskbench")
    assert [c.name for c in cases] == sorted(p.name for p in (DATA / "maskbench").glob("*.json"))
    assert all(c.instances for c in cases)
    assert {i.valid for c in cases for i in c.instances} == {True, False}


def test_test_suite_groups_are_cases():
    assert detect_format(DATA / "test-suite") == "test-suite"
    cases = load_cases(DATA / "test-suite")
    assert len(cases) == 6 and cases[0].name.startswith("sample.json#0 ")


def test_a_folder_of_something_else_is_a_clear_error(tmp_path):
    (tmp_path / "x.json").write_text('{"schema": {}}')
    with pytest.raises(ConfigError, match="not a maskbench file"):
        load_cases(tmp_path, "maskbench")
    with pytest.raises(ConfigError, match="not a JSON-Schema-Test-Suite file"):
        load_cases(tmp_path / "x.json", "test-suite")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match=r"no \.json files"):
        detect_format(tmp_path / "empty")
