"""Muster retries a failed Meet link or an unavailable room by itself, with backoff, and says when.

Through the emulator (real Google client): a Meet ``createRequest`` that fails, and a room that cannot be
found, are retried by the worker's retry clock (:func:`engine.sync.sweep.enqueue_due_retries`) without
any save of the session; the reason shown ends with the moment of the next try, which REST answers as
``nextAttemptAt``; the wait doubles while Google keeps failing; before it is due nothing is re-requested.

The retry clock's "now" (:mod:`engine.delegation.retry`) is the test's :class:`_Clock`, moved on by hand in
place of sleeping: a check made "before the try is due" would otherwise race the machine's load (on a busy
machine a reconcile and a REST read can take longer than the one-second wait itself).
"""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.engine import Engine

from engine.delegation import retry
from engine.delegation.retry import NEXT_TRY
from engine.settings import Settings
from engine.store.models import DelegationMethod
from engine.store.types import utcnow
from engine.sync.sweep import enqueue_due_retries
from tests.integration.delegation.conftest import (
    ADMIN,
    Google,
    Platform,
    connect_via_consent_page,
    learners,
    organizers,
)
from tests.integration.delegation.test_meet import _rest_session


class _Clock:
    """The retry clock's ``utcnow``, standing still until the test moves it on."""

    def __init__(self) -> None:
        self.now = utcnow()

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> _Clock:
    now = _Clock()
    monkeypatch.setattr(retry, "utcnow", now)
    return now


def _due(engine: Engine, at: datetime) -> list[uuid.UUID]:
    found: list[uuid.UUID] = []
    enqueue_due_retries(engine, found.append, now=at)
    return found


def test_failed_meet_link_is_retried_by_muster_with_backoff(
    google: Google, settings: Settings, sqlite_engine: Engine, clock: _Clock
) -> None:
    settings = replace(settings, meet_retry_min_s=1, meet_retry_max_s=8)
    platform = Platform(sqlite_engine, settings)
    organizer = organizers()[1]
    sid = platform.session(organizer=organizer, learners=tuple(learners(2)))
    connect_via_consent_page(google, settings, sqlite_engine, platform.tenant_id, organizer)
    google.options(conference_failure_rate=1.0)

    # Given a Meet link Google failed to create
    platform.sync(sid)
    failed = platform.binding(sid)
    assert failed.meet_status == "failure" and failed.meet_link is None
    assert failed.next_attempt_at is not None and failed.next_attempt_at == clock.now + timedelta(seconds=1)
    # Then the reason says when Muster tries again, and REST answers the same moment
    assert failed.meet_error and f"{NEXT_TRY} {failed.next_attempt_at:%Y-%m-%d %H:%M:%S} UTC" in failed.meet_error
    sync = _rest_session(sqlite_engine, settings, platform, sid)["sync"]
    assert NEXT_TRY in sync["meetError"] and sync["nextAttemptAt"] is not None
    # Before it is due: the retry clock enqueues nothing, and a reconcile (the sweep) asks Google nothing new
    assert _due(sqlite_engine, clock.now) == []
    platform.sync(sid)
    assert platform.binding(sid).meet_request_id == failed.meet_request_id

    # When it is due (still failing), the clock enqueues it, a new attempt fails, and the wait doubles
    clock.advance(1.1)
    assert _due(sqlite_engine, clock.now) == [sid]
    platform.sync(sid)
    second = platform.binding(sid)
    assert second.meet_request_id != failed.meet_request_id and second.meet_status == "failure"
    assert second.blocked_detail["meet_retries"] == 2
    assert second.next_attempt_at is not None
    assert second.next_attempt_at == clock.now + timedelta(seconds=2)  # twice the first wait

    # When Google recovers, the next due try (no save) gets the link and clears the clock
    google.options(conference_failure_rate=0.0)
    clock.advance(2.1)
    assert _due(sqlite_engine, clock.now) == [sid]
    platform.sync(sid)
    fixed = platform.binding(sid)
    assert fixed.meet_status == "success" and fixed.meet_link and fixed.meet_error is None
    assert fixed.next_attempt_at is None and "meet_retries" not in fixed.blocked_detail
    [event] = google.events(organizer)
    assert event["hangoutLink"] == fixed.meet_link
    assert _due(sqlite_engine, clock.now + timedelta(days=1)) == []


def test_unavailable_room_is_looked_for_again_when_due(
    google: Google, settings: Settings, sqlite_engine: Engine, clock: _Clock
) -> None:
    settings = replace(settings, meet_retry_min_s=1)
    platform = Platform(sqlite_engine, settings, method=DelegationMethod.DOMAIN_WIDE.value)
    organizer = organizers()[2]
    start = datetime(2027, 3, 2, 9, 0, tzinfo=UTC)
    sid = platform.session(
        organizer=organizer, learners=tuple(learners(2)), room=True, min_capacity=500, start=start, video="none"
    )
    # Given no room fits
    platform.sync(sid)
    binding = platform.binding(sid)
    assert binding.room_email is None and binding.room_error and binding.room_error.startswith("no room available")
    assert NEXT_TRY in binding.room_error and binding.next_attempt_at is not None
    reads = google.control("GET", "counters")["by_identity"].get(ADMIN, 0)
    # Before it is due, reconciles do not search the room list again
    platform.sync(sid)
    assert google.control("GET", "counters")["by_identity"].get(ADMIN, 0) == reads
    assert platform.binding(sid).room_error.count(NEXT_TRY) == 1  # type: ignore[union-attr]
    # When due, the retry clock enqueues it and the reconcile searches again (no save needed)
    clock.advance(1.1)
    assert _due(sqlite_engine, clock.now) == [sid]
    platform.sync(sid)
    assert google.control("GET", "counters")["by_identity"].get(ADMIN, 0) > reads
    again = platform.binding(sid)
    assert again.blocked_detail["room_retries"] == 2 and again.room_error.count(NEXT_TRY) == 1  # type: ignore[union-attr]
