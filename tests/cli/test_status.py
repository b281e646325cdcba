"""``muster status``: the same readiness as ``/readyz`` in a terminal, exit 1 until the database is migrated.

Where it sits: CLI tests through the installed console script (:mod:`engine.cli.status`).
"""

from __future__ import annotations

import json
from pathlib import Path

from tests.cli.test_cli import muster


def test_status_names_the_upgrade_then_reports_ready(tmp_path: Path) -> None:
    env = {"MUSTER_DATABASE_URL": f"sqlite:///{tmp_path / 'status.db'}", "MUSTER_VAR_DIR": str(tmp_path)}
    before = muster("status", env=env, cwd=tmp_path)
    assert before.returncode == 1, before.stderr
    assert "NOT READY" in before.stdout and "run `muster db upgrade`" in before.stdout
    assert "Traceback" not in before.stdout + before.stderr
    assert muster("db", "upgrade", env=env, cwd=tmp_path).returncode == 0
    after = muster("status", env=env, cwd=tmp_path)
    assert after.returncode == 0, after.stdout + after.stderr
    lines = after.stdout.splitlines()
    assert lines[0].endswith(": ready") and lines[1].startswith("database  ok")
    assert lines[2].startswith("broker    embedded")
    report = json.loads(muster("status", "--json", env=env, cwd=tmp_path).stdout)
    assert report["ready"] is True and report["database"]["state"] == "ok" and report["workers"] == []
