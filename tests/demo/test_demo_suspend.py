"""``muster demo --suspend EMAIL``: the organizer is suspended in the emulator and their sessions move."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import sqlalchemy as sa


def test_demo_suspend_transfers_the_organizers_sessions(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MUSTER_")}
    ken = "ken.allen5@acme.example"
    args = [
        sys.executable,
        "-c",
        "from engine.cli.main import main; main()",
        "demo",
        "--exit-after-seed",
        "--emulator-port",
        "0",
        "--var-dir",
        str(tmp_path / "demo"),
        "--suspend",
        ken,
    ]
    run = subprocess.run(args, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=240)
    assert run.returncode == 0, run.stderr
    assert f"Organizer lifecycle: suspended {ken} in the emulator" in run.stdout
    assert f"(was {ken}): data_transfer -> frances.cerf8@acme.example" in run.stdout  # the co-host
    assert f"(was {ken}): data_transfer -> ada.torvalds0@acme.example" in run.stdout  # the fallback owner
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'demo' / 'muster.db'}")
    with engine.connect() as conn:
        query = sa.text(
            "SELECT b.owner_email FROM calendar_binding b JOIN session_host h ON h.session_id = b.session_id "
            "JOIN person p ON p.id = h.person_id JOIN tenant t ON t.id = b.tenant_id "
            "WHERE t.slug = 'acme-delegated' AND h.position = 0 AND p.email = :ken"
        )
        owners = conn.execute(query, {"ken": ken}).scalars().all()
        status = (
            conn.execute(sa.text("SELECT DISTINCT status FROM person WHERE email = :ken"), {"ken": ken})
            .scalars()
            .all()
        )
    engine.dispose()
    assert len(owners) == 4 and ken not in owners
    assert "suspended" in status
    bad = [line for line in run.stdout.splitlines() if "blocked:" in line or "error:" in line]
    assert not bad, bad
