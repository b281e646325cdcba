"""Meet lifecycle through the emulator: ``pending`` polled via requeue until ``success``; ``failure``
saves the event without a link, shows why, and the next save starts a new attempt (new requestId)."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy.engine import Engine
from sqlmodel import Session

from engine.api.app import create_api
from engine.domain.meet import MAX_POLLS, poll_delay
from engine.ingest.tenants import issue_api_key
from engine.settings import Settings
from engine.store.models import LiveSession, SyncStatus
from engine.store.unit_of_work import unit_of_work
from tests.integration.delegation.conftest import Google, Platform, connect_via_consent_page, learners, organizers


def _rest_session(engine: Engine, settings: Settings, platform: Platform, sid: uuid.UUID) -> Any:
    """GET /v1/sessions/{external_id} through the REST API app, with a fresh API key."""
    with unit_of_work(engine) as uow:
        key = issue_api_key(db=uow.db, tenant_id=platform.tenant_id, name="test")
        row = uow.db.get(LiveSession, sid)
        assert row is not None
        external_id = row.external_id
    app = create_api(settings, engine=engine)

    async def get() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://muster.test") as client:
            return await client.get(f"/v1/sessions/{external_id}", headers={"Authorization": f"Bearer {key}"})

    resp = asyncio.run(get())
    assert resp.status_code == 200, resp.text
    return resp.json()


def _calendar_calls(google: Google, organizer: str) -> int:
    counters = google.control("GET", "counters")
    return int(counters["by_identity"].get(organizer, 0))


def test_pending_is_polled_by_requeue_until_success(
    google: Google, settings: Settings, sqlite_engine: Engine, platform: Platform
) -> None:
    organizer = organizers()[0]
    sid = platform.session(organizer=organizer, learners=tuple(learners(2)))
    connect_via_consent_page(google, settings, sqlite_engine, platform.tenant_id, organizer)
    google.options(conference_delay_s=0.3)
    google.control("DELETE", "counters")

    first = platform.reconciler.reconcile(sid)
    # The write answered "pending": the worker is not blocked, the reconcile asks to be run again soon.
    assert first.requeue_after is not None and first.requeue_after <= timedelta(seconds=1)
    pending = platform.binding(sid)
    assert pending.meet_status == "pending" and pending.meet_link is None and pending.meet_request_id
    results = platform.sync(sid, pause=0.1)
    done = platform.binding(sid)
    assert done.meet_status == "success" and done.meet_link, done.meet_error
    assert done.meet_request_id == pending.meet_request_id  # same attempt: polling never re-requests
    polls = len(results)
    calls = _calendar_calls(google, organizer)
    # meet_calls_per_session: 1 insert (+1 get before it) plus one get per poll while pending.
    assert calls <= 2 + polls, (calls, polls)
    assert results[-1].requeue_after is None


def test_failure_saves_event_without_link_and_next_save_retries(
    google: Google, settings: Settings, sqlite_engine: Engine, platform: Platform
) -> None:
    organizer = organizers()[1]
    sid = platform.session(organizer=organizer, learners=tuple(learners(2)))
    connect_via_consent_page(google, settings, sqlite_engine, platform.tenant_id, organizer)
    google.options(conference_failure_rate=1.0)

    platform.sync(sid)
    failed = platform.binding(sid)
    assert failed.sync_status == SyncStatus.SYNCED.value  # the event is saved...
    assert failed.meet_status == "failure" and failed.meet_link is None  # ...without a link...
    assert failed.meet_error and "Meet" in failed.meet_error  # ...and the reason is shown
    [event] = google.events(organizer)
    assert "hangoutLink" not in event
    first_request = failed.meet_request_id
    # The REST API shows the reason on the session.
    sync = _rest_session(sqlite_engine, settings, platform, sid)["sync"]
    assert sync["meetStatus"] == "failure" and sync["meetLink"] is None and "Meet" in sync["meetError"]

    # The next save tries again with a new requestId, and this time Google succeeds.
    google.options(conference_failure_rate=0.0)
    with Session(sqlite_engine) as db:
        row = db.get(LiveSession, sid)
        assert row is not None
        row.title = "Renamed"
        row.revision += 1
        db.add(row)
        db.commit()
    platform.sync(sid)
    fixed = platform.binding(sid)
    assert fixed.meet_status == "success" and fixed.meet_link and fixed.meet_error is None
    assert fixed.meet_request_id != first_request
    [event] = google.events(organizer)
    assert event["hangoutLink"] == fixed.meet_link and event["summary"] == "Renamed"
    sync = _rest_session(sqlite_engine, settings, platform, sid)["sync"]
    assert sync["meetLink"] == fixed.meet_link and sync["meetError"] is None


def test_poll_backoff_is_bounded() -> None:
    delays = [poll_delay(n).total_seconds() for n in range(MAX_POLLS + 3)]
    assert delays[:4] == [1, 2, 4, 8]
    assert max(delays) == 60 and delays == sorted(delays)


def test_switching_video_from_meet_to_manual_removes_the_conference(
    google: Google, settings: Settings, sqlite_engine: Engine, platform: Platform
) -> None:
    organizer = organizers()[2]
    sid = platform.session(organizer=organizer, learners=tuple(learners(2)))
    connect_via_consent_page(google, settings, sqlite_engine, platform.tenant_id, organizer)
    platform.sync(sid)
    assert platform.binding(sid).meet_link
    with Session(sqlite_engine) as db:
        row = db.get(LiveSession, sid)
        assert row is not None
        row.video, row.manual_join_link = "manual", "https://video.example/room/42"
        row.revision += 1
        db.add(row)
        db.commit()
    platform.sync(sid)
    binding = platform.binding(sid)
    assert binding.meet_link == "https://video.example/room/42" and binding.meet_status is None
    [event] = google.events(organizer)
    assert "conferenceData" not in event and "hangoutLink" not in event
    assert event["location"] == "https://video.example/room/42"
    # Converged: the next reconcile writes nothing.
    assert platform.sync(sid)[-1].writes == 0
