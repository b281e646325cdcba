"""The top-level layout the design fixes, and where the migration scripts are found.

Where it sits: unit tests of the architecture, beside ``test_import_graph.py``. The migrations live in the
top-level ``alembic/`` folder; it must stay a folder of scripts (no ``__init__.py``: a regular package of that
name would shadow the Alembic library), and ``engine.store.migrations`` must run the scripts there in a
checkout. That the wheel carries them is proven by ``tests/integration/sync/test_wheel.py``.
"""

from __future__ import annotations

import tomllib

import alembic.command

from engine.store import migrations
from tests.conftest import REPO_ROOT

TOP_LEVEL = ("engine", "admin_ui", "connectors", "policies", "tests", "alembic", "pyproject.toml")


def test_the_top_level_holds_what_the_design_requires() -> None:
    missing = [name for name in TOP_LEVEL if not (REPO_ROOT / name).exists()]
    assert missing == []


def test_the_alembic_folder_holds_the_migrations_and_does_not_shadow_the_library() -> None:
    folder = REPO_ROOT / "alembic"
    assert not (folder / "__init__.py").exists()
    assert (folder / "env.py").is_file() and (folder / "script.py.mako").is_file()
    assert sorted((folder / "versions").glob("*.py")), "no migration scripts in alembic/versions"
    assert alembic.command.__file__ is not None and not alembic.command.__file__.startswith(str(folder))
    assert not (REPO_ROOT / "engine" / "store" / "schema_migrations").exists()


def test_migrations_run_the_scripts_of_the_top_level_folder() -> None:
    assert migrations.scripts_dir() == REPO_ROOT / "alembic"
    assert migrations.alembic_config().get_main_option("script_location") == str(REPO_ROOT / "alembic")
    heads = sorted((REPO_ROOT / "alembic" / "versions").glob("*.py"))[-1].name
    assert migrations.head_revision() is not None and migrations.head_revision() in heads


def test_the_wheel_maps_the_data_package_onto_the_folder() -> None:
    config = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert config["package-dir"] == {"muster_migrations": "alembic"}
    assert set(config["package-data"]["muster_migrations"]) >= {"*.mako", "versions/*.py"}
    assert '"muster_migrations"' in (REPO_ROOT / "setup.py").read_text()


def test_no_module_is_loaded_by_name_outside_the_cli_plugin_loader() -> None:
    """Dependencies are plain imports (visible to import-linter and mypy); only ``muster``'s command plugin loader
    (engine/cli/main.py) imports modules by name. Reading the package's version (importlib.metadata) is not
    loading a module."""
    import ast

    allowed = {REPO_ROOT / "engine" / "cli" / "main.py"}
    offenders: list[str] = []
    for package in ("engine", "connectors", "admin_ui", "policies"):
        for path in sorted((REPO_ROOT / package).rglob("*.py")):
            if path in allowed:
                continue
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                names: list[str] = []
                if isinstance(node, ast.Import):
                    names = [a.name for a in node.names]
                elif isinstance(node, ast.ImportFrom) and node.module:
                    names = [f"{node.module}.{a.name}" for a in node.names]
                elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "__import__":
                    names = ["__import__"]
                bad = [n for n in names if (n.startswith("importlib") and not n.startswith("importlib.metadata"))
                       or n == "__import__"]
                offenders.extend(f"{path.relative_to(REPO_ROOT)}: {n}" for n in bad)
    assert offenders == []
