"""The sync engine's step in ``muster demo``: wait for the catalog to land in the emulator, then report.

Where it sits: registered into :data:`engine.demo.main.STEPS` after ``ingest_catalog`` (see the bottom of
:mod:`engine.demo.main`). Muster's service-account key comes from the emulator in an earlier step
(:func:`engine.demo.delegation.emulator_credentials`); the in-process worker started with the web app
syncs every session the REST API ingested. This step then reconciles every session once more (the demo's
choice for "the emulator and the database agree": a second run starts a fresh, empty emulator while the
database says every session is synced, so each session is reconciled, and recreated in the emulator,
before anything is printed), waits for it, and says how many events landed on the vendor owner calendars.
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

import httpx

from engine.demo.context import DemoContext, DemoError

#: Longest the demo waits for the catalog to be in the emulator before printing its summary.
SYNC_WAIT_S = 120.0


def _control(ctx: DemoContext, method: str, path: str, body: Any = None) -> Any:
    url = ctx.emulator.url.rstrip("/") + "/_emulator/" + path
    try:
        resp = httpx.request(method, url, json=body, timeout=10)
    except httpx.HTTPError as exc:
        raise DemoError(f"the emulator's control API did not answer {method} {path}: {exc}") from None
    if resp.status_code >= 300:
        raise DemoError(f"the emulator refused {method} {path}: HTTP {resp.status_code} {resp.text[:200]}")
    return resp.json() if resp.content else None


def _settled(ctx: DemoContext, since: datetime) -> bool:
    """Every session was reconciled during this run (or stopped on an error someone must fix)."""
    from sqlmodel import Session, select

    from engine.store.models import CalendarBinding, LiveSession

    with Session(ctx.db_engine) as db:
        sessions = db.exec(select(LiveSession.id, LiveSession.revision)).all()
        done = {b.session_id: b for b in db.exec(select(CalendarBinding)).all()}

    def reconciled(binding: CalendarBinding, revision: int) -> bool:
        at = binding.last_synced_at
        return binding.synced_revision == revision and at is not None and at >= since

    return all(
        sid in done and (reconciled(done[sid], rev) or done[sid].sync_status in ("error", "blocked"))
        for sid, rev in sessions
    )


def wait_for_sync(ctx: DemoContext) -> None:
    """Let the sync worker put the ingested catalog into the emulator, then count the owners' events.

    With the web app running, its in-process worker is already syncing (the REST writes enqueued the
    sessions after commit); with ``--exit-after-seed`` an embedded worker is started here for the wait.
    """
    if ctx.emulator is None or ctx.settings is None:
        return
    from engine.store.types import utcnow
    from engine.store.unit_of_work import unit_of_work
    from engine.sync.sweep import sweep

    # Reconcile every session before printing, so what the summary says is what the emulator holds: on a
    # second run the database already says "synced" while this process's emulator started empty.
    since = utcnow()
    embedded = None
    if ctx.web is None:
        from engine.runtime.worker import start_embedded

        embedded = start_embedded(ctx.settings, engine=ctx.db_engine)
        sweep(ctx.db_engine, lambda sid: embedded.tasks.enqueue(sid, background=True))
    else:
        ids: list[Any] = []
        sweep(ctx.db_engine, ids.append)
        with unit_of_work(ctx.db_engine) as uow:  # sent to the web app's worker after the commit
            for sid in ids:
                uow.enqueue_session(sid)
    deadline = time.monotonic() + SYNC_WAIT_S
    try:
        while not _settled(ctx, since) and time.monotonic() < deadline:
            time.sleep(0.25)
    finally:
        if embedded is not None:
            embedded.stop()
    owners = list((ctx.workspace.get("vendor") or {}).get("ownerAccounts") or [])
    counts = {}
    for owner in owners:
        data = _control(ctx, "GET", f"calendars/{owner}/events?includeDeleted=false")
        counts[owner] = len(data.get("events") or [])
    total = sum(counts.values())
    spread = ", ".join(f"{o.split('@')[0]}: {n}" for o, n in counts.items())
    state = "" if _settled(ctx, since) else " (still syncing in the background; see the admin UI's health page)"
    ctx.notes.append(f"Sync (vendor mode): {total} events on the vendor owner calendars ({spread}){state}")
    emu = ctx.emulator.url.rstrip("/")
    if owners:
        ctx.notes.append(f"  an owner's events: {emu}/_emulator/calendars/{owners[0]}/events")
