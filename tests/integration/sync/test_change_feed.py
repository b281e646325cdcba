"""The change feed end to end: Muster learns from Google what changed, by push or by its timer.

Where it sits: ``tests/integration/sync``. A real stack (SQLite, embedded worker, the REST API served by
uvicorn so the emulator can post notifications to ``POST /google/push``) against the emulator. Each test
makes a change in Google the way a person would (an edit through the real client, a guest's answer) and
checks that Muster notices it through the feed and reconciles the session: with push and with the timer
alone, after a 410 (full resync of that calendar only), after a lost notification, across channel renewal
and expiry; and that stale or forged notifications are answered without harm.
"""

from __future__ import annotations

import json
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from sqlmodel import Session, select

from connectors.google.calendar import GoogleCalendarFactory
from connectors.google.credentials import ServiceAccountSource, token_uri_for
from connectors.ports.calendar import Actor
from engine.api.app import create_api
from engine.feed import channels
from engine.feed import run as feed_run
from engine.feed.dispatch import set_feed_dispatcher
from engine.runtime.worker import EmbeddedWorker, start_embedded
from engine.settings import Settings, load_settings
from engine.store.models import CalendarBinding, FeedCalendar
from engine.store.types import utcnow
from engine.store.unit_of_work import set_dispatcher
from tests.api.conftest import AsgiClient
from tests.conftest import _engine_for
from tests.integration.sync.conftest import (
    Emu,
    _env,
    _make_tenant,
    organizers,
    people,
    session_body,
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class FeedStack:
    def __init__(self, emu: Emu, tmp: Path, **env: str) -> None:
        emu.reseed()
        self.emu = emu
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        db_url = f"sqlite:///{tmp / 'feed.db'}"
        self.engine = _engine_for(db_url)
        env = {k: v.replace("{url}", self.url) for k, v in env.items()}
        self.settings: Settings = load_settings(_env(db_url, emu, tmp, **env))
        self.tenant_id, key = _make_tenant(self.engine)
        self.embedded: EmbeddedWorker = start_embedded(self.settings, engine=self.engine, threads=2, timeout_s=10)
        self.app = create_api(self.settings, engine=self.engine)
        self.api = AsgiClient(self.app)
        self.auth = {"Authorization": f"Bearer {key}"}
        self.server = uvicorn.Server(uvicorn.Config(self.app, host="127.0.0.1", port=self.port, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            assert time.monotonic() < deadline, "the API did not start"
            time.sleep(0.05)

    def clock_pass(self) -> None:
        """What the worker's feed clock does on its first pass (30 s after start-up, or the poll interval).

        Under the clock's own key, as the worker's pass runs: a test whose timer is short would otherwise run
        its pass alongside the worker's, and both would open a channel for the same calendar."""
        rt = self.embedded.runtime
        assert rt.feeds is not None
        deadline = time.monotonic() + WAIT_S
        while (token := rt.lock.acquire("feed", WAIT_S)) is None:  # the worker's pass holds it: wait it out
            assert time.monotonic() < deadline, "the worker's feed clock never let go of its key"
            time.sleep(0.05)
        try:
            feed_run.clock_pass(self.engine, rt.feeds, self.settings, self.embedded.tasks.enqueue_feed)
        finally:
            rt.lock.release("feed", token)

    def close(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
        self.embedded.stop()
        self.emu.clear_faults()
        set_dispatcher(None)
        set_feed_dispatcher(None)
        self.engine.dispose()

    def put(self, external_id: str, **overrides: Any) -> uuid.UUID:
        body = session_body(hosts=organizers()[:1], enrolled=people("l", 2, start=40), **overrides)
        resp = self.api.put(f"/v1/sessions/{external_id}", json=body, headers=self.auth)
        assert resp.status_code in (200, 201), resp.text
        return uuid.UUID(resp.json()["id"])

    def binding(self, sid: uuid.UUID) -> CalendarBinding:
        with Session(self.engine) as db:
            return db.exec(select(CalendarBinding).where(CalendarBinding.session_id == sid)).one()

    def synced(self, sid: uuid.UUID) -> bool:
        with Session(self.engine) as db:
            b = db.exec(select(CalendarBinding).where(CalendarBinding.session_id == sid)).first()
            return b is not None and b.sync_status == "synced"

    def feed_rows(self) -> dict[str, FeedCalendar]:
        with Session(self.engine) as db:
            return {r.calendar_id: r for r in db.exec(select(FeedCalendar)).all()}

    def google_as(self, owner: str) -> Any:
        source = ServiceAccountSource(json.loads(self.emu.key_file.read_text()),
                                      token_uri=token_uri_for(self.emu.url))
        return GoogleCalendarFactory(source, root_url=self.emu.url)(Actor("vendor", owner))._svc()

    def edit_in_google(self, sid: uuid.UUID, summary: str) -> None:
        b = self.binding(sid)
        assert b.owner_email and b.event_id
        self.google_as(b.owner_email).events().patch(calendarId=b.calendar_id, eventId=b.event_id,
                                                     body={"summary": summary}, sendUpdates="none").execute()

    def summary(self, sid: uuid.UUID) -> str:
        b = self.binding(sid)
        (event,) = [e for e in self.emu.events(str(b.calendar_id)) if e["id"] == b.event_id]
        return str(event["summary"])


#: How long a test waits for what it expects: returned as soon as it holds, so only a failing test waits this
#: long; generous for a loaded machine, and still far below the 600 s timer the push tests rule out.
WAIT_S = 60.0


def wait_for(check: Callable[[], bool], timeout_s: float, what: str) -> float:
    started = time.monotonic()
    while not check():
        assert time.monotonic() - started < timeout_s, f"timed out waiting for {what}"
        time.sleep(0.05)
    return time.monotonic() - started


@pytest.fixture
def polled(emu: Emu, tmp_path: Path) -> Iterator[FeedStack]:
    stack = FeedStack(emu, tmp_path, MUSTER_FEED_POLL_S="1")
    yield stack
    stack.close()


@pytest.fixture
def pushed(emu: Emu, tmp_path: Path) -> Iterator[FeedStack]:
    stack = FeedStack(emu, tmp_path, MUSTER_PUSH_URL="{url}/google/push", MUSTER_FEED_POLL_S="600")
    yield stack
    stack.close()


def _followed(stack: FeedStack, cal: str) -> Callable[[], bool]:
    return lambda: (row := stack.feed_rows().get(cal)) is not None and row.sync_token is not None


def test_timer_without_push_notices_an_edit_and_a_guest_answer_without_a_loop(polled: FeedStack) -> None:
    stack = polled
    sid = stack.put("feed-1")
    wait_for(lambda: stack.synced(sid), WAIT_S, "first sync")
    cal = str(stack.binding(sid).calendar_id)
    wait_for(_followed(stack, cal), WAIT_S, "the calendar's first full sync")
    time.sleep(2.5)  # two more passes: Muster's own write is recognised by its etag, never noted
    assert stack.binding(sid).remote_seen_at is None
    stack.edit_in_google(sid, "Renamed in Google")
    wait_for(lambda: stack.summary(sid) == "Intro to SQL", WAIT_S, "the edit noticed and repaired")

    def repair_recorded() -> bool:  # Google shows the repair before the reconcile's recording commits
        b = stack.binding(sid)
        return b.remote_seen_at is not None and b.last_synced_at is not None and b.last_synced_at >= b.remote_seen_at

    wait_for(repair_recorded, WAIT_S, "the repair recorded after the change was seen")
    b = stack.binding(sid)
    learner = people("l", 2, start=40)[0]
    status = httpx.post(f"{stack.emu.url}_emulator/calendars/{cal}/events/{b.event_id}/responses",
                        json={"email": learner, "responseStatus": "declined"}).status_code
    assert status == 200
    answered_seen = b.remote_seen_at
    wait_for(lambda: (stack.binding(sid).remote_seen_at or answered_seen) > answered_seen, WAIT_S, "answer noticed")
    wait_for(lambda: stack.binding(sid).etag == stack.binding(sid).remote_etag, WAIT_S, "answer reconciled")
    settled = stack.binding(sid).remote_seen_at
    time.sleep(2.5)
    assert stack.binding(sid).remote_seen_at == settled  # the reconcile's own read/write is not a change


def test_410_resyncs_that_calendar_only(polled: FeedStack) -> None:
    stack = polled
    sids = [stack.put(f"feed-410-{i}", title=f"S{i}") for i in range(6)]
    wait_for(lambda: all(stack.synced(s) for s in sids), WAIT_S, "first syncs")
    # Sessions spread over the vendor owners by their random ids: six can all land on one calendar, so add
    # sessions until two calendars hold some (the other calendars are what must keep their tokens).
    while len({stack.binding(s).calendar_id for s in sids}) < 2 and len(sids) < 40:
        sids.append(stack.put(f"feed-410-{len(sids)}", title=f"S{len(sids)}"))
        wait_for(lambda: stack.synced(sids[-1]), WAIT_S, "one more first sync")
    cals = sorted({str(stack.binding(s).calendar_id) for s in sids})
    assert len(cals) >= 2, cals
    for cal in cals:
        wait_for(_followed(stack, cal), WAIT_S, f"{cal} followed")
    before = {c: r.full_synced_at for c, r in stack.feed_rows().items()}
    victim = next(s for s in sids if stack.binding(s).calendar_id == cals[0])
    stack.emu.control("POST", f"calendars/{cals[0]}/invalidate-sync-tokens")
    stack.edit_in_google(victim, "Edited while the token was refused")
    wait_for(lambda: (stack.feed_rows()[cals[0]].full_synced_at or before[cals[0]]) > before[cals[0]], WAIT_S,
             "a full resync of the refused calendar")
    wait_for(lambda: stack.summary(victim).startswith("S"), WAIT_S, "the edit found by the resync and repaired")
    time.sleep(1.5)
    after = stack.feed_rows()
    assert all(after[c].full_synced_at == before[c] for c in cals[1:]), "other calendars kept their tokens"
    assert after[cals[0]].error_class is None


def test_push_brings_a_change_in_without_the_timer(pushed: FeedStack) -> None:
    stack = pushed
    sid = stack.put("feed-push")
    wait_for(lambda: stack.synced(sid), WAIT_S, "first sync")
    cal = str(stack.binding(sid).calendar_id)
    stack.clock_pass()  # opens the channels and takes each calendar's first token
    wait_for(lambda: (r := stack.feed_rows().get(cal)) is not None and r.channel_id is not None, WAIT_S, "channel")
    wait_for(_followed(stack, cal), WAIT_S, "first sync of the calendar")
    stack.edit_in_google(sid, "Renamed in Google")
    # Well within the timer's 600 s, whatever the machine's load: only the push can have brought it in.
    wait_for(lambda: stack.summary(sid) == "Intro to SQL", WAIT_S, "push-driven repair (timer is 600 s)")
    (listed,) = [c for c in stack.emu.control("GET", f"channels?calendarId={cal}")["channels"] if not c["stopped"]]
    assert listed["id"] == stack.feed_rows()[cal].channel_id
    assert any(m["state"] == "exists" and m["status"] == 200 for m in listed["messages"])


def test_feed_status_shows_the_calendar_as_the_feed_left_it(pushed: FeedStack) -> None:
    from engine.feed.status import feed_status

    stack = pushed
    sid = stack.put("feed-status")
    wait_for(lambda: stack.synced(sid), 20, "first sync")
    b = stack.binding(sid)
    cal = str(b.calendar_id)
    stack.clock_pass()
    wait_for(lambda: (r := stack.feed_rows().get(cal)) is not None and r.channel_id is not None, 10, "channel")
    wait_for(_followed(stack, cal), 10, "first sync of the calendar")
    with Session(stack.engine) as db:
        (row,) = [r for r in feed_status(db=db, tenant_id=stack.tenant_id) if r.calendar_id == cal]
    stored = stack.feed_rows()[cal]
    assert row.identity == f"vendor:{b.owner_email}" and row.tenant_slug is not None
    assert row.has_sync_token and row.synced_at is not None and row.full_synced_at is not None
    assert (row.listening, row.channel_id) == ("push", stored.channel_id) and row.channel_expires_at is not None
    assert (row.error_class, row.last_error, row.pending_changes) == (None, None, 0)


def test_a_lost_notification_is_caught_by_the_timer(emu: Emu, tmp_path: Path) -> None:
    stack = FeedStack(emu, tmp_path, MUSTER_PUSH_URL="{url}/google/push", MUSTER_FEED_POLL_S="2")
    try:
        sid = stack.put("feed-lost")
        wait_for(lambda: stack.synced(sid), WAIT_S, "first sync")
        cal = str(stack.binding(sid).calendar_id)
        stack.clock_pass()
        wait_for(_followed(stack, cal), WAIT_S, "first sync of the calendar")
        set_feed_dispatcher(None)  # every notification from now on is answered but its sync request lost
        stack.edit_in_google(sid, "Renamed in Google")
        wait_for(lambda: stack.summary(sid) == "Intro to SQL", WAIT_S, "the timer's pass repairing it")
        (live,) = [c for c in stack.emu.control("GET", f"channels?calendarId={cal}")["channels"] if not c["stopped"]]
        assert any(m["state"] == "exists" and m["status"] == 200 for m in live["messages"])  # it was delivered
    finally:
        stack.close()


def test_channel_renewal_expiry_and_stale_or_forged_notifications(pushed: FeedStack) -> None:
    stack = pushed
    sid = stack.put("feed-renew")
    wait_for(lambda: stack.synced(sid), WAIT_S, "first sync")
    cal = str(stack.binding(sid).calendar_id)
    stack.clock_pass()
    wait_for(lambda: (r := stack.feed_rows().get(cal)) is not None and r.channel_id is not None, WAIT_S, "channel")
    row = stack.feed_rows()[cal]
    assert row.channel_expires_at is not None
    rt = stack.embedded.runtime
    assert rt.feeds is not None
    ttl = stack.settings.push_channel_ttl_s

    def upkeep(at: Any) -> channels.UpkeepReport:
        return channels.upkeep(stack.engine, rt.feeds, push_url=stack.settings.push_url,  # type: ignore[arg-type]
                               secret_key=stack.settings.secret_key, ttl_s=ttl, now=at)

    # nothing to do well before expiry; renewed when a quarter of the lifetime is left
    assert upkeep(utcnow()).renewed == []
    report = upkeep(row.channel_expires_at - timedelta(seconds=ttl // 8))
    assert report.renewed == [cal]
    renewed = stack.feed_rows()[cal]
    listed = {c["id"]: c for c in stack.emu.control("GET", f"channels?calendarId={cal}")["channels"]}
    assert renewed.channel_id != row.channel_id
    assert listed[str(row.channel_id)]["stopped"] and not listed[str(renewed.channel_id)]["stopped"]
    # the channel reaches its expiration in Google: the next pass opens a new one
    stack.emu.control("POST", f"channels/{renewed.channel_id}/expire")
    assert renewed.channel_expires_at is not None
    assert upkeep(renewed.channel_expires_at + timedelta(seconds=1)).opened == [cal]
    current = stack.feed_rows()[cal]
    assert current.channel_id not in (row.channel_id, renewed.channel_id)
    # a stale channel of ours (not the calendar's current one) is answered and stopped
    stale_id = channels.new_channel_id(current.id)
    stale = rt.feeds(Actor("vendor", current.actor_email)).watch(
        cal, stale_id, str(stack.settings.push_url), channels.channel_token(stack.settings.secret_key, stale_id), 600)
    unknown_id = channels.new_channel_id(uuid.uuid4())  # signed by Muster, naming no calendar it follows
    unknown = rt.feeds(Actor("vendor", current.actor_email)).watch(
        cal, unknown_id, str(stack.settings.push_url), channels.channel_token(stack.settings.secret_key, unknown_id),
        600)
    stack.edit_in_google(sid, "Renamed in Google")  # all three channels post "exists"

    def stopped(cid: str) -> bool:
        return bool({c["id"]: c for c in stack.emu.control("GET", f"channels?calendarId={cal}")["channels"]}
                    [cid]["stopped"])

    wait_for(lambda: stopped(stale.id), WAIT_S, "the stale channel stopped after its notification")
    wait_for(lambda: stopped(unknown.id), WAIT_S, "the unknown channel stopped (matched by its resource URI)")
    wait_for(lambda: stack.summary(sid) == "Intro to SQL", WAIT_S, "the current channel's notification synced")
    assert not {c["id"]: c for c in stack.emu.control("GET", f"channels?calendarId={cal}")["channels"]
                }[str(current.channel_id)]["stopped"]
    # forged and malformed notifications: refused, never a 500
    push = f"{stack.url}/google/push"
    forged = httpx.post(push, headers={"X-Goog-Channel-ID": str(current.channel_id),
                                       "X-Goog-Channel-Token": "nope", "X-Goog-Resource-State": "exists"})
    assert forged.status_code == 403
    assert httpx.post(push, headers={"X-Goog-Channel-ID": "someone-else", "X-Goog-Resource-State": "exists"}
                      ).status_code == 403
    bad = httpx.post(push, headers={"X-Goog-Resource-State": "exists"})
    assert bad.status_code == 400 and "X-Goog-Channel-ID" in bad.json()["error"]["message"]
    good = httpx.post(push, headers={
        "X-Goog-Channel-ID": str(current.channel_id), "X-Goog-Resource-State": "exists",
        "X-Goog-Channel-Token": channels.channel_token(stack.settings.secret_key, str(current.channel_id))})
    assert good.status_code == 200 and good.json() == {"status": "sync"}


def test_sweep_by_changes_costs_a_listing_per_calendar_and_honours_the_grace_period(
    emu: Emu, tmp_path: Path
) -> None:
    from engine.admin.people import add_person, issue_admin_token
    from engine.store.models import Tenant
    from engine.store.unit_of_work import unit_of_work
    from engine.sync.sweep import sessions_needing_reconcile, sweep_changes

    stack = FeedStack(emu, tmp_path, MUSTER_FEED_POLL_S="600")
    try:
        live = [stack.put(f"sw-{i}", title=f"S{i}") for i in range(4)]
        ended = stack.put("sw-old", start="2026-10-01T10:00:00+02:00", end="2026-10-01T11:00:00+02:00")
        wait_for(lambda: all(stack.synced(s) for s in [*live, ended]), WAIT_S, "first syncs")
        stack.embedded.join(20)
        rt = stack.embedded.runtime
        assert rt.feeds is not None
        from engine.feed.run import sync_all

        def feeds() -> tuple[int, int, int]:
            done = sync_all(stack.engine, rt.feeds)  # type: ignore[arg-type]
            return done.calendars, done.pages, done.noted

        sent: list[uuid.UUID] = []
        first = sweep_changes(stack.engine, sent.append, sync_feeds=feeds)  # baseline: first full listing
        cals = {str(stack.binding(s).calendar_id) for s in [*live, ended]}
        assert first.calendars == len(cals) and first.pages == len(cals) and first.noted == 0 and sent == []
        clean = sweep_changes(stack.engine, sent.append, sync_feeds=feeds)
        assert (clean.pages, clean.noted, clean.enqueued) == (len(cals), 0, 0)  # unchanged: no reconcile at all
        stack.edit_in_google(live[0], "Renamed in Google")
        changed = sweep_changes(stack.engine, sent.append, sync_feeds=feeds)
        assert changed.noted == 1  # reconciled through note_remote_change, after the feed's commit
        wait_for(lambda: stack.summary(live[0]) == "S0", WAIT_S, "the sweep's change repaired")
        # the grace period: a tenant setting saved through the admin REST API, read by the sweep
        with Session(stack.engine) as db, db.begin():
            for sid in (live[1], ended):  # both "changed in Google, not yet reconciled"
                b = db.exec(select(CalendarBinding).where(CalendarBinding.session_id == sid)).one()
                b.remote_seen_at = utcnow() + timedelta(seconds=60)
                db.add(b)
        with unit_of_work(stack.engine) as uow:
            tenant = uow.db.get(Tenant, stack.tenant_id)
            assert tenant is not None
            add_person(db=uow.db, tenant=tenant, email="it-admin@acme.example", role="admin", actor="test")
            token = issue_admin_token(db=uow.db, tenant=tenant, email="it-admin@acme.example", actor="test")
        admin = {"Authorization": f"Bearer {token}"}
        assert set(sessions_needing_reconcile(stack.engine, now=utcnow())) == {live[1]}  # default 7 days
        bad = stack.api.patch("/v1/admin/tenant", json={"settings": {"feed": {"ended_grace_days": -1}}},
                              headers=admin)
        assert bad.status_code == 422 and "ended_grace_days" in bad.text, bad.text  # names the field
        ok = stack.api.patch("/v1/admin/tenant", json={"settings": {"feed": {"ended_grace_days": 365}}},
                             headers=admin)
        assert ok.status_code == 200, ok.text
        assert ok.json()["settings"]["feed"] == {"ended_grace_days": 365}
        assert set(sessions_needing_reconcile(stack.engine, now=utcnow())) == {live[1], ended}
    finally:
        stack.close()


def test_a_calendar_no_longer_used_has_its_channel_stopped(pushed: FeedStack) -> None:
    stack = pushed
    sid = stack.put("feed-gone")
    wait_for(lambda: stack.synced(sid), WAIT_S, "first sync")
    cal = str(stack.binding(sid).calendar_id)
    stack.clock_pass()
    wait_for(lambda: (r := stack.feed_rows().get(cal)) is not None and r.channel_id is not None, WAIT_S, "channel")
    channel = str(stack.feed_rows()[cal].channel_id)
    assert stack.api.delete("/v1/sessions/feed-gone", headers=stack.auth).status_code in (200, 202, 204)
    wait_for(lambda: stack.binding(sid).sync_status == "removed", WAIT_S, "the event removed")
    stack.clock_pass()  # the calendar is no longer used: inactive, its channel stopped
    row = stack.feed_rows()[cal]
    assert not row.active and row.channel_id is None
    listed = {c["id"]: c for c in stack.emu.control("GET", f"channels?calendarId={cal}")["channels"]}
    assert listed[channel]["stopped"]


def _calls(counters: dict[str, Any]) -> dict[str, int]:
    """The emulator's counters as reads of one event, listings, patches and quota refusals."""
    routes: dict[str, int] = counters.get("by_route") or {}
    return {
        "reads": sum(v for k, v in routes.items() if k.startswith("GET ") and "/events/" in k),
        "listings": sum(v for k, v in routes.items() if k.startswith("GET ") and k.rstrip("/").endswith("/events")),
        "patches": sum(v for k, v in routes.items() if k.startswith("PATCH ")),
        "other": counters["total"] - sum(v for k, v in routes.items() if k.startswith(("GET ", "PATCH "))),
        "refused": sum(v for k, v in (counters.get("by_status") or {}).items() if str(k) in ("403", "429")),
    }


def test_a_drift_repair_put_back_for_quota_costs_a_read_and_a_patch_at_most(emu: Emu, tmp_path: Path) -> None:
    """The background share at 10 % of 600/min (one slot a second, no burst) puts back every repair whose
    write does not find its slot: the repair of a change the feed listed plans against the listed copy
    (no read at all), and one found by a full verification keeps what it read for its next attempt (one
    read, one patch). Before, each attempt read its event again, and at this share it never got to write."""
    from engine.feed.run import sync_all
    from engine.sync.sweep import sweep, sweep_changes

    stack = FeedStack(emu, tmp_path, MUSTER_FEED_POLL_S="600", MUSTER_BACKGROUND_QUOTA_PERCENT="10")
    try:
        sids = [stack.put(f"dr-{i}", title=f"D{i}") for i in range(4)]
        wait_for(lambda: all(stack.synced(s) for s in sids), WAIT_S, "first syncs")
        stack.embedded.join(20)
        rt = stack.embedded.runtime
        assert rt.feeds is not None
        feeds = rt.feeds

        def sync_feeds() -> tuple[int, int, int]:
            done = sync_all(stack.engine, feeds)
            return done.calendars, done.pages, done.noted

        def background(sid: uuid.UUID) -> object:
            return stack.embedded.tasks.enqueue(sid, take_over_stale=True, background=True)

        sweep_changes(stack.engine, background, sync_feeds=sync_feeds)  # the feed's baseline
        stack.embedded.join(20)
        cals = {str(stack.binding(s).calendar_id) for s in sids}

        # the periodic drift sweep by changes: the listing returned each changed event in full
        drifted = sids[:3]
        for n, sid in enumerate(drifted):
            stack.edit_in_google(sid, f"Renamed in Google {n}")
        emu.reset_counters()
        report = sweep_changes(stack.engine, background, sync_feeds=sync_feeds)
        assert report.noted == len(drifted)
        wait_for(lambda: all(stack.summary(s) == f"D{i}" for i, s in enumerate(sids)), WAIT_S, "drift repaired")
        stack.embedded.join(30)
        calls = _calls(emu.counters())
        # (the worker's own feed clock may list the calendars once more meanwhile: 30 s after start-up)
        assert calls["listings"] >= len(cals), calls
        assert (calls["reads"], calls["patches"], calls["other"], calls["refused"]) == (0, len(drifted), 0, 0), calls
        for sid in drifted:
            b = stack.binding(sid)
            assert b.remote_changed_at is None and b.remote_listed is None and b.sync_status == "synced"

        # a full verification finds drift the feed never reported: one read per session, one patch per drift
        drifted = sids[1:3]
        for sid in drifted:
            stack.edit_in_google(sid, "Renamed again")
        emu.reset_counters()
        swept = sweep(stack.engine, background)
        assert swept.enqueued == len(sids)
        wait_for(lambda: all(stack.summary(s) == f"D{i}" for i, s in enumerate(sids)), WAIT_S, "drift repaired")
        stack.embedded.join(30)
        calls = _calls(emu.counters())
        # every unchanged session read once; a drifted one once (or not at all, had the feed clock listed it)
        assert len(sids) - len(drifted) <= calls["reads"] <= len(sids), calls
        assert (calls["patches"], calls["other"], calls["refused"]) == (len(drifted), 0, 0), calls
        for sid in sids:
            b = stack.binding(sid)
            assert b.remote_changed_at is None and b.remote_listed is None and b.sync_status == "synced"
    finally:
        stack.close()
