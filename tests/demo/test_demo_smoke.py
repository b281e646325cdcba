"""``muster demo --exit-after-seed``: the sample customer is seeded through the REST API, then it exits."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

from engine import demo
from tests.conftest import SHARED_DATA


def test_demo_seeds_and_exits(tmp_path: Path) -> None:
    catalog = SHARED_DATA / "acme-catalog.json"
    assert catalog.is_file(), f"sample data missing at {SHARED_DATA}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("MUSTER_")}
    args = [
        sys.executable,
        "-c",
        "from engine.cli import main; main()",
        "demo",
        "--exit-after-seed",
        "--emulator-port",
        "0",
        "--var-dir",
        str(tmp_path / "demo"),
    ]
    first = subprocess.run(args, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)
    assert first.returncode == 0, first.stderr
    assert "42 sessions ingested through the REST API" in first.stdout
    assert re.search(r"/_emulator/calendar/ada\.torvalds0@acme\.example\?week=2026-11-30", first.stdout)
    assert "http://127.0.0.1:8000/docs" in first.stdout
    key = re.search(r"API key:\s+(mk_\S+)", first.stdout)
    assert key is not None

    db_file = tmp_path / "demo" / "muster.db"
    first_counts = table_counts(db_file)

    # Running it again is idempotent: same tenants, same sessions, a fresh key (the old one revoked).
    second = subprocess.run(args, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)
    assert second.returncode == 0, second.stderr
    second_counts = table_counts(db_file)
    for table in ("tenant", "live_session", "person", "session_host", "enrollment"):
        assert second_counts[table] == first_counts[table], table
    engine = sa.create_engine(f"sqlite:///{db_file}")
    with engine.connect() as conn:
        acme = conn.execute(sa.text("SELECT id FROM tenant WHERE slug = 'acme'")).scalars().all()
        assert len(acme) == 1
        where = {"t": acme[0]}
        assert (
            conn.execute(
                sa.text("SELECT count(*) FROM live_session WHERE tenant_id = :t"), where
            ).scalar_one()
            == 42
        )
        # identical PUTs change nothing: every acme session is still at its first revision
        assert (
            conn.execute(
                sa.text("SELECT max(revision) FROM live_session WHERE tenant_id = :t"), where
            ).scalar_one()
            == 1
        )
        live_keys = (
            "SELECT count(*) FROM api_key WHERE tenant_id = :t AND name = 'demo' AND revoked_at IS NULL"
        )
        assert conn.execute(sa.text(live_keys), where).scalar_one() == 1
        waitlisted = conn.execute(
            sa.text(
                "SELECT count(*) FROM enrollment e JOIN live_session s ON s.id = e.session_id "
                "WHERE s.tenant_id = :t AND e.status = 'waitlisted'"
            ),
            where,
        )
        assert waitlisted.scalar_one() == 50
        assert conn.execute(sa.text("SELECT count(*) FROM alembic_version")).scalar_one() == 1
    engine.dispose()


def table_counts(db_file: Path) -> dict[str, int]:
    engine = sa.create_engine(f"sqlite:///{db_file}")
    try:
        with engine.connect() as conn:
            names = sa.inspect(conn).get_table_names()
            return {n: conn.execute(sa.text(f'SELECT count(*) FROM "{n}"')).scalar_one() for n in names}
    finally:
        engine.dispose()


def test_demo_without_sample_data_says_where_it_looked(tmp_path: Path) -> None:
    ctx = demo.DemoContext(var_dir=tmp_path / "demo", data_dir=tmp_path / "nowhere", echo=lambda _line: None)
    with pytest.raises(demo.DemoError, match=r"nowhere/acme-workspace\.json is missing"):
        demo.run(ctx, exit_after_seed=True)
