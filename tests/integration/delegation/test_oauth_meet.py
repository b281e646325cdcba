"""Per-organizer OAuth and Meet, end to end: consent page → stored token → event with a unique Meet link.

Through the emulator over HTTP with the real clients; the consent page is driven with httpx.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from engine.crypto import decrypt
from engine.runtime.wiring import google_kit
from engine.settings import Settings
from engine.store.models import ConnectionStatus, GoogleConnection, LiveSession, SyncStatus
from tests.integration.delegation.conftest import Google, Platform, connect_via_consent_page, learners, organizers


def test_consent_then_session_gets_a_meet_link(
    google: Google, settings: Settings, sqlite_engine: Engine, platform: Platform
) -> None:
    organizer = organizers()[0]
    sid = platform.session(organizer=organizer, learners=tuple(learners(3)))

    # Given no connection yet, the session waits and says who could connect.
    platform.sync(sid)
    before = platform.binding(sid)
    assert before.sync_status == SyncStatus.BLOCKED.value
    assert "no connected organizer" in (before.last_error or "") and organizer in (before.last_error or "")
    assert google.events(organizer) == []

    # When the organizer consents through Google's page...
    result = connect_via_consent_page(google, settings, sqlite_engine, platform.tenant_id, organizer)
    assert result.google_email == organizer and result.sessions_enqueued == 1
    with Session(sqlite_engine) as db:
        conn = db.exec(select(GoogleConnection).where(GoogleConnection.google_email == organizer)).one()
        assert conn.status == ConnectionStatus.CONNECTED.value
        assert conn.refresh_token_encrypted and "1//emu-" not in conn.refresh_token_encrypted
        assert decrypt(settings.secret_key, conn.refresh_token_encrypted).startswith("1//emu-")

    # ...the session syncs on the organizer's own calendar with a Meet link.
    platform.sync(sid)
    binding = platform.binding(sid)
    assert binding.sync_status == SyncStatus.SYNCED.value, binding.last_error
    assert binding.owner_email == organizer and binding.calendar_id == organizer
    assert binding.meet_status == "success"
    assert binding.meet_link and binding.meet_link.startswith("https://meet.google.com/")
    [event] = google.events(organizer)
    assert event["organizer"]["email"] == organizer
    assert event["hangoutLink"] == binding.meet_link
    assert {a["email"] for a in event["attendees"]} >= set(learners(3))


def test_two_sessions_never_share_a_link_and_a_resync_keeps_it(
    google: Google, settings: Settings, sqlite_engine: Engine, platform: Platform
) -> None:
    organizer = organizers()[1]
    a = platform.session(organizer=organizer, learners=tuple(learners(2)), title="A")
    b = platform.session(organizer=organizer, learners=tuple(learners(2)), title="B")
    connect_via_consent_page(google, settings, sqlite_engine, platform.tenant_id, organizer)
    platform.sync(a)
    platform.sync(b)
    link_a, link_b = platform.binding(a).meet_link, platform.binding(b).meet_link
    assert link_a and link_b and link_a != link_b
    # A later sync with nothing changed writes nothing and keeps the link.
    again = platform.sync(a)
    assert again[-1].writes == 0
    assert platform.binding(a).meet_link == link_a
    links = [e.get("hangoutLink") for e in google.events(organizer)]
    assert sorted(links) == sorted([link_a, link_b])
    # A later patch (new title and time) keeps the conference: same link, no new conference.
    with Session(sqlite_engine) as db:
        row = db.get(LiveSession, a)
        assert row is not None
        row.title, row.start_at, row.end_at = (
            "A moved",
            row.start_at + timedelta(hours=2),
            row.end_at + timedelta(hours=2),
        )
        row.revision += 1
        db.add(row)
        db.commit()
    platform.sync(a)
    assert platform.binding(a).meet_link == link_a
    [moved] = [e for e in google.events(organizer) if e["summary"] == "A moved"]
    assert moved["hangoutLink"] == link_a and moved["conferenceData"]["conferenceId"] in link_a


def test_consent_as_another_account_is_refused(
    google: Google, settings: Settings, sqlite_engine: Engine, platform: Platform
) -> None:
    import httpx
    import pytest

    from engine.delegation.oauth import OAuthError, complete, start_url
    from engine.store.models import Person, Tenant
    from engine.store.unit_of_work import unit_of_work

    organizer, other = organizers()[2], organizers()[3]
    platform.session(organizer=organizer)
    with Session(sqlite_engine) as db:
        tenant = db.get(Tenant, platform.tenant_id)
        person = db.exec(select(Person).where(Person.email == organizer)).one()
        assert tenant is not None
        url = start_url(kit=google_kit(), settings=settings, tenant=tenant, person=person)
    params = dict(httpx.QueryParams(url.split("?", 1)[1]))
    params.pop("login_hint")
    answer = httpx.post(google.url + "o/oauth2/v2/auth", data={**params, "user": other, "decision": "allow"})
    callback = httpx.URL(answer.headers["location"])
    with (
        pytest.raises(OAuthError, match=f"signed in to Google as {other}"),
        unit_of_work(sqlite_engine) as uow,
    ):
        complete(
            kit=google_kit(), uow=uow, settings=settings, state=callback.params["state"], code=callback.params["code"]
        )
    # A forged or tampered state is refused before any code is spent.
    with pytest.raises(OAuthError, match="does not match"), unit_of_work(sqlite_engine) as uow:
        complete(kit=google_kit(), uow=uow, settings=settings, state=callback.params["state"] + "x", code="4/whatever")
    with Session(sqlite_engine) as db:
        assert db.exec(select(GoogleConnection)).all() == []
