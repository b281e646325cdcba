"""Every module of Muster's packages opens with a docstring saying where it sits in the flow, and every module
such a docstring names exists.

Where it sits: unit tests of the architecture, beside ``test_import_graph.py`` and ``test_layout.py``. House
style: a newcomer reads a module's first lines to place it (``Where it sits: ...``, or a sentence saying what it
sits below or beside). A ``:mod:`` reference to a Muster module that was moved or renamed would send the reader
nowhere, so each one must name a module of the tree.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

from tests.conftest import REPO_ROOT

PACKAGES = ("engine", "connectors", "admin_ui", "policies")
#: How a docstring says where the module sits ("Where it sits: ...", "Sits below ...", "It sits ...").
SITS = re.compile(r"\bwhere it sits\b|\bsits\b", re.IGNORECASE)
MODULE_REF = re.compile(r":mod:`~?((?:" + "|".join(PACKAGES) + r")(?:\.\w+)*)`")


def modules() -> dict[str, Path]:
    out: dict[str, Path] = {}
    for package in PACKAGES:
        for path in sorted((REPO_ROOT / package).rglob("*.py")):
            parts = list(path.relative_to(REPO_ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            out[".".join(parts)] = path
    return out


def docstring(path: Path) -> str:
    return ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or ""


def test_every_module_opens_with_a_docstring_saying_where_it_sits() -> None:
    found = modules()
    assert len(found) > 150  # the whole tree was walked
    lacking = [name for name, path in found.items() if not docstring(path).strip()]
    assert lacking == [], f"modules without a docstring: {lacking}"
    unplaced = [name for name, path in found.items() if not SITS.search(docstring(path))]
    assert unplaced == [], f"docstrings that do not say where the module sits (\"Where it sits: ...\"): {unplaced}"


def test_modules_named_in_docstrings_exist() -> None:
    found = modules()
    stale = sorted(
        f"{name}: {ref}" for name, path in found.items() for ref in MODULE_REF.findall(docstring(path))
        if ref not in found
    )
    assert stale == [], f"docstrings name modules that do not exist: {stale}"


def test_the_checks_can_fail(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text('"""Does things."""\n')
    assert docstring(module) == "Does things." and not SITS.search(docstring(module))
    module.write_text('"""Where it sits: below :mod:`engine.nowhere`."""\n')
    assert SITS.search(docstring(module)) and MODULE_REF.findall(docstring(module)) == ["engine.nowhere"]
    assert "engine.nowhere" not in modules()
