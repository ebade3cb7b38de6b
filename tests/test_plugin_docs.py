"""docs/plugins.md and liftinfer.hookspecs must agree: every hook documented, with its exact signature and
firstresult, and nothing documented that is not a hook. The worked toggle example must work as written."""

from __future__ import annotations

import inspect
import re
import types
from pathlib import Path

import pytest

from liftinfer import hookspecs
from liftinfer.config import EngineConfig
from liftinfer.deploy import DeploymentSpec

DOCS = Path(__file__).resolve().parent.parent / "docs" / "plugins.md"
HOOK_SECTION = re.compile(r"^### `(liftinfer_\w+)`\n(.*?)(?=^#{2,3} |\Z)", re.M | re.S)


def hookspec_functions() -> dict[str, types.FunctionType]:
    return {name: fn for name, fn in inspect.getmembers(hookspecs, inspect.isfunction)
            if name.startswith("liftinfer_")}


def signature_line(name: str, fn: types.FunctionType) -> str:
    """``def name(param: annotation, ...) -> return`` as written in hookspecs.py (annotations unevaluated)."""
    sig = inspect.signature(fn)
    params = ", ".join(f"{p.name}: {p.annotation}" for p in sig.parameters.values())
    return f"def {name}({params}) -> {sig.return_annotation}"


def documented() -> dict[str, str]:
    return {m.group(1): m.group(2) for m in HOOK_SECTION.finditer(DOCS.read_text())}


def test_every_hook_is_documented_and_nothing_else():
    assert set(documented()) == set(hookspec_functions())


@pytest.mark.parametrize("name", sorted(hookspec_functions()))
def test_hook_documentation_matches_the_spec(name):
    section = documented().get(name)
    assert section is not None, f"docs/plugins.md has no section for {name}"
    fn = hookspec_functions()[name]
    blocks = re.findall(r"```python\n(.*?)```", section, re.S)
    assert blocks, f"{name}: no signature block"
    assert blocks[0].strip() == signature_line(name, fn), f"{name}: the documented signature differs"
    firstresult = re.search(r"\*\*firstresult:\*\* (yes|no)", section)
    assert firstresult, f"{name}: no '**firstresult:** yes/no' line"
    assert (firstresult.group(1) == "yes") == fn.liftinfer_spec["firstresult"], f"{name}: firstresult differs"
    assert "**Called:**" in section, f"{name}: does not say when it is called"
    assert len(blocks) >= 2, f"{name}: no example"


def test_every_hook_has_a_docstring_with_its_return():
    for name, fn in hookspec_functions().items():
        assert fn.__doc__ and ":return:" in fn.__doc__, name


def test_the_public_plugin_api_table_lists_real_names():
    import liftinfer.plugin as api

    table = DOCS.read_text().split("## The public plugin API", 1)[1].split("\n## ", 1)[0]
    first_column = "\n".join(row.split("|")[1] for row in table.splitlines() if row.startswith("| `"))
    named = set(re.findall(r"`(\w+)", first_column))
    assert named <= set(api.__all__), named - set(api.__all__)
    assert set(api.__all__) <= named, set(api.__all__) - named


def load_worked_toggle() -> types.ModuleType:
    blocks = re.findall(r"```python\n(.*?)```", DOCS.read_text(), re.S)
    code = next(b for b in blocks if b.startswith("# liftinfer_offline.py"))
    module = types.ModuleType("liftinfer_offline")
    exec(compile(code, str(DOCS), "exec"), module.__dict__)
    return module


def test_the_worked_toggle_example_works(liftinfer_plugins, register_plugin):
    register_plugin(load_worked_toggle(), name="offline")
    assert liftinfer_plugins.toggles()["offline"].plugin == "offline"
    changes = liftinfer_plugins.toggle_changes(EngineConfig(toggles=["offline"]), "transformers")
    assert changes.environment["HF_HUB_OFFLINE"] == "1"
    spec = changes.apply_to(DeploymentSpec())
    assert spec.env["TRANSFORMERS_OFFLINE"] == "1"


def test_the_worked_toggle_switches_on_from_the_environment(liftinfer_plugins, register_plugin, monkeypatch):
    register_plugin(load_worked_toggle(), name="offline")
    monkeypatch.setenv("LIFTINFER_OFFLINE", "1")
    assert liftinfer_plugins.toggle_changes(EngineConfig(), None).toggles == ("offline",)
