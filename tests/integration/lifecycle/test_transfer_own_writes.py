"""A transfer's own move is never reported as a change made in Google, even when the change feed lists the
moved event between the move and the rebind that records it; a move Google refused leaves no mark.

Where it sits: ``tests/integration/lifecycle``; the lifecycle stack (``life``: SQLite, then PostgreSQL; the
emulator; the real reconciler and lifecycle wiring) and the change feed of the successor's calendar. The
window is made deterministic with a step hook (:mod:`engine.runtime.steps`): at ``transfer.moved`` (Google
moved the event, the binding still names the departing organizer) the hook runs one incremental sync of
the successor's calendar, as a push notification or the feed's timer would at that moment. See
:mod:`engine.sync.own_writes`.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from sqlmodel import Session, select

from connectors.ports.feed import ChangeFeedFactory
from engine.delegation.hooks import DelegationHooks
from engine.feed import calendars as feed_calendars
from engine.feed.sync import FeedSyncReport, sync_calendar
from engine.runtime import ratelimit, steps
from engine.runtime.wiring import build_feed_factory, google_kit
from engine.store.models import FeedCalendar
from tests.integration.lifecycle.conftest import Life

RADIA, GRACE = "radia.backus10@acme.example", "grace.lamport2@acme.example"


@pytest.fixture(autouse=True)
def no_hook() -> Iterator[None]:
    yield
    steps.install(None)


def _feeds(life: Life) -> ChangeFeedFactory:
    hooks = DelegationHooks(life.settings, life.engine, kit=google_kit())
    return build_feed_factory(life.settings, limiter=ratelimit.build(None), oauth=hooks.oauth_source, timeout_s=10)


def _followed(life: Life, feeds: ChangeFeedFactory, calendar_id: str) -> uuid.UUID:
    """The successor's calendar followed by the change feed and synced once (its sync token stored)."""
    feed_calendars.refresh(life.engine)
    with Session(life.engine) as db:
        feed_id = db.exec(select(FeedCalendar.id).where(FeedCalendar.calendar_id == calendar_id)).one()
    assert sync_calendar(life.engine, feeds, feed_id) is not None
    return feed_id


def _planned_departure(life: Life) -> tuple[uuid.UUID, uuid.UUID, ChangeFeedFactory]:
    for who in (RADIA, GRACE):
        life.connect(who)
    sid = life.put_session("own-move", hosts=[RADIA, GRACE], room=False)
    assert life.settle(sid).outcome == "success"
    other = life.put_session("grace-own", hosts=[GRACE], room=False)  # Muster writes to GRACE's calendar too
    assert life.settle(other).outcome == "success"
    feeds = _feeds(life)
    feed_id = _followed(life, feeds, GRACE)
    resp = life.request("PUT", f"/v1/people/{RADIA}/departure", {})
    assert resp.status_code == 200 and resp.json()["transferDue"] is True
    return sid, feed_id, feeds


def test_a_listing_between_the_transfer_s_move_and_its_rebind_notes_nothing(life: Life) -> None:
    sid, feed_id, feeds = _planned_departure(life)
    seen: list[FeedSyncReport | BaseException | None] = []
    marks: list[object] = []

    def hook(step: str) -> None:
        if step != "transfer.moved" or seen:
            return
        marks.append(life.binding(sid).writing_since)
        try:
            seen.append(sync_calendar(life.engine, feeds, feed_id))
        except Exception as exc:  # shown by the test, not swallowed by the transfer
            seen.append(exc)

    steps.install(hook)
    [person] = life.sweep().transfers
    steps.install(None)
    assert [(s.outcome, s.path) for s in person.sessions] == [("transferred", "move")]
    [report] = seen
    assert isinstance(report, FeedSyncReport), report
    assert report.changes >= 1  # the listing did contain the moved event, on GRACE's calendar
    assert marks[0] is not None  # the transfer had marked the binding before it moved the event
    assert report.noted == 0, "the transfer's own move was noted as a change made in Google"
    b = life.binding(sid)
    assert (b.owner_email, b.calendar_id) == (GRACE, GRACE)
    assert b.writing_since is None and b.remote_held_etag is None and b.remote_changed_at is None
    assert not life.audit("session.changed_in_google")


def test_a_move_google_could_not_make_leaves_no_mark_behind(life: Life) -> None:
    """The move answered 503 (deferred to the next pass): the mark goes, so the feed notes changes made in
    Google meanwhile at once instead of holding them for a rebind that does not come."""
    sid, _feed_id, _feeds = _planned_departure(life)
    life.emu.faults([{"method": "POST", "path": "/calendar/v3/calendars/*/events/*/move", "error_rate": 1.0,
                      "error_status": 503}])
    try:
        [person] = life.sweep().transfers
    finally:
        life.emu.clear_faults()
    assert [s.outcome for s in person.sessions if s.session_id == sid] == ["deferred"]
    b = life.binding(sid)
    assert b.owner_email == RADIA and b.writing_since is None
