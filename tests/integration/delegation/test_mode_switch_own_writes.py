"""The mode switch's own writes (the event recreated on the organizer's calendar, its predecessor removed
from the vendor owner's) are never reported as changes made in Google, even when the change feed lists
them between the write and its recording.

Where it sits: ``tests/integration/delegation``; SQLite, the emulator, the reconciler a worker builds
(``Platform``), :func:`engine.delegation.mode_switch.apply`. The window is made deterministic with a step
hook (:mod:`engine.runtime.steps`): at every ``apply.wrote`` (Google answered a write, nothing recorded yet)
the hook runs one incremental sync of both calendars, as push notifications or the feed's timer would.
See :mod:`engine.sync.own_writes`: the switch writes through the reconciler, which takes the write mark.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from engine.delegation import mode_switch
from engine.feed import calendars as feed_calendars
from engine.feed.sync import FeedSyncReport, sync_calendar
from engine.runtime import steps
from engine.runtime.ratelimit import MemoryRateLimiter
from engine.runtime.wiring import build_feed_factory
from engine.settings import Settings
from engine.store.models import (
    AuditEvent,
    CalendarBinding,
    DelegationMethod,
    FeedCalendar,
    IntegrationMode,
    ModeSwitchStatus,
    Tenant,
)
from tests.integration.delegation.conftest import Google, Platform, learners, organizers


@pytest.fixture(autouse=True)
def no_hook() -> Iterator[None]:
    yield
    steps.install(None)


def _follow(engine: Engine) -> list[uuid.UUID]:
    feed_calendars.refresh(engine)
    with Session(engine) as db:
        return list(db.exec(select(FeedCalendar.id).where(FeedCalendar.active)).all())


def test_listings_during_the_switch_s_writes_note_nothing(
    google: Google, settings: Settings, sqlite_engine: Engine
) -> None:
    platform = Platform(sqlite_engine, settings, mode=IntegrationMode.VENDOR.value,
                        method=DelegationMethod.DOMAIN_WIDE.value)
    organizer = organizers()[0]
    sid = platform.session(organizer=organizer, learners=tuple(learners(2)), video="none")
    assert platform.sync(sid)[-1].outcome == "success"
    vendor_calendar = platform.binding(sid).calendar_id
    with Session(sqlite_engine, expire_on_commit=False) as db:
        tenant = db.get(Tenant, platform.tenant_id)
        assert tenant is not None
        preview = mode_switch.preview(db, tenant=tenant, target=IntegrationMode.DELEGATION.value, settings=settings,
                                      requested_by="test")
        db.commit()
    feeds = build_feed_factory(settings, limiter=MemoryRateLimiter(), oauth=platform.hooks.oauth_source)
    followed = _follow(sqlite_engine)
    for feed_id in followed:
        sync_calendar(sqlite_engine, feeds, feed_id)
    seen: list[FeedSyncReport | BaseException | None] = []
    wrote: list[str] = []

    def hook(step: str) -> None:
        if step != "apply.wrote":
            return
        wrote.append(step)
        for feed_id in _follow(sqlite_engine):
            try:
                seen.append(sync_calendar(sqlite_engine, feeds, feed_id))
            except Exception as exc:  # shown by the test, not swallowed by the switch
                seen.append(exc)

    steps.install(hook)
    done = mode_switch.apply(sqlite_engine, switch_id=preview.id, reconcile=platform.reconciler.reconcile)
    steps.install(None)
    assert done.status == ModeSwitchStatus.DONE.value, done.last_error
    b = platform.binding(sid)
    assert b.calendar_id == organizer and b.calendar_id != vendor_calendar
    reports = [r for r in seen if r is not None]
    assert wrote and all(isinstance(r, FeedSyncReport) for r in reports), reports
    assert sum(r.changes for r in reports if isinstance(r, FeedSyncReport)) >= 1  # the listings saw the writes
    assert not [r for r in reports if isinstance(r, FeedSyncReport) and r.noted], "the switch's writes were noted"
    with Session(sqlite_engine) as db:
        row = db.exec(select(CalendarBinding).where(CalendarBinding.session_id == sid)).one()
        assert row.writing_since is None and row.remote_held_etag is None and row.remote_changed_at is None
        assert not db.exec(select(AuditEvent).where(AuditEvent.action == "session.changed_in_google")).all()
