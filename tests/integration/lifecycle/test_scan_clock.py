"""The Directory scan runs on its own clock: a suspended organizer is noticed within
``directory_scan_interval_s``, while the drift sweep (here once an hour) has not run at all.

Through the embedded worker (the same clocks ``muster worker`` runs), the emulator and the real Google
client; on SQLite and PostgreSQL (the ``life`` fixture).
"""

from __future__ import annotations

import time
from dataclasses import replace

import pytest
from sqlmodel import Session, select

from engine.runtime import metrics
from engine.runtime import worker as worker_module
from engine.runtime.worker import start_embedded
from engine.store.models import Person
from tests.integration.lifecycle.conftest import Life

KEN, LINUS = "ken.allen5@acme.example", "linus.goldberg3@acme.example"


def _status(life: Life, email: str) -> str:
    with Session(life.engine) as db:
        return db.exec(select(Person.status).where(Person.tenant_id == life.tenant_id, Person.email == email)).one()


def test_suspended_organizer_is_noticed_by_the_scan_clock_not_the_sweep(life: Life) -> None:
    for who in (KEN, LINUS):
        life.connect(who)
    sid = life.put_session("s-clock", hosts=[KEN, LINUS], room=False)
    assert life.settle(sid).outcome == "success"
    # Given an organizer suspended in Google's Directory
    life.emu.control("POST", f"users/{KEN}/suspend", {"reason": "ADMIN"})
    settings = replace(life.settings, sweep_interval_s=3600, directory_scan_interval_s=1)
    sweeps_before = metrics.snapshot().get("sweep.last_at")
    worker = start_embedded(settings, engine=life.engine)
    try:
        # When the worker runs for a few seconds
        deadline = time.monotonic() + 20
        while _status(life, KEN) != "suspended" and time.monotonic() < deadline:
            time.sleep(0.2)
    finally:
        worker.stop()
    # Then the Directory scan saw the suspension, and the drift sweep never ran in that time
    assert _status(life, KEN) == "suspended"
    assert _status(life, LINUS) == "active"
    names = {clock.name: clock for clock in worker.clocks}
    assert {"muster-sweep", "muster-directory-scan", "muster-retry-clock"} <= set(names)
    assert metrics.snapshot().get("sweep.last_at") == sweeps_before


def test_the_first_drift_sweep_comes_one_full_interval_after_start_up(
    life: Life, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The other clocks make their first pass soon after start-up (``FIRST_SWEEP_DELAY_S``, shortened here);
    the drift sweep waits its whole ``sweep_interval_s`` (what was committed meanwhile is in the outbox), so a
    worker that starts does not sweep at once whatever its interval."""
    monkeypatch.setattr(worker_module, "FIRST_SWEEP_DELAY_S", 0.2)
    settings = replace(life.settings, sweep_interval_s=3, directory_scan_interval_s=3600)
    metrics.set_value("sweep.last_at", 0)
    started = time.monotonic()
    worker = start_embedded(settings, engine=life.engine)
    try:
        time.sleep(1.5)  # the other clocks' first passes are due after 0.2 s
        swept_early = metrics.snapshot().get("sweep.last_at")
        deadline = time.monotonic() + 10
        while not metrics.snapshot().get("sweep.last_at") and time.monotonic() < deadline:
            time.sleep(0.05)
        first_sweep_after = time.monotonic() - started
    finally:
        worker.stop()
    assert not swept_early
    assert metrics.snapshot().get("sweep.last_at")
    assert 3 <= first_sweep_after < 8
