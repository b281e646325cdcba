"""The platform owns what it sends: a session written through the REST API is read-only in the admin UI's
session form, so nothing an admin types is silently replaced by the platform's next PUT.

Through the whole web app (REST API + admin UI, one process): the platform PUTs a session with its key,
an admin opens the form (every field disabled, no save button), a crafted post saves nothing (409), and the
platform's next PUT finds exactly what it sent. A session created in the admin UI stays editable.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select
from starlette.testclient import TestClient

from engine.ingest.tenants import issue_api_key
from engine.store.models import AuditEvent, LiveSession
from engine.store.unit_of_work import set_dispatcher, unit_of_work
from tests.admin_ui.conftest import csrf_of
from tests.admin_ui.factories import World

BODY = {
    "title": "Platform session",
    "timeZone": "Europe/Berlin",
    "start": "2027-03-01T10:00:00+01:00",
    "end": "2027-03-01T11:00:00+01:00",
    "organizer": "organizer@acme.example",
    "location": "Room 1",
    "url": "https://learn.example/s/p-1",
}


@pytest.fixture
def sent() -> Iterator[list[uuid.UUID]]:
    got: list[uuid.UUID] = []
    set_dispatcher(got.extend)
    yield got
    set_dispatcher(None)


def _platform_put(client: TestClient, engine: Engine, world: World, body: dict[str, object]) -> uuid.UUID:
    with unit_of_work(engine) as uow:
        key = issue_api_key(db=uow.db, tenant_id=world.acme.tenant_id, name="platform")
    resp = client.put("/v1/sessions/p-1", json=body, headers={"Authorization": f"Bearer {key}"})
    assert resp.status_code in (200, 201), resp.text
    return uuid.UUID(resp.json()["id"])


def test_platform_session_is_read_only_in_the_form_and_a_post_saves_nothing(
    client_as: Callable[..., TestClient], world: World, engine_under_test: Engine, sent: list[uuid.UUID]
) -> None:
    admin = client_as("admin")
    sid = _platform_put(admin, engine_under_test, world, BODY)
    sent.clear()
    # The form shows the platform's fields read-only and offers no save
    page = admin.get(f"/admin/sessions/{sid}/edit")
    assert page.status_code == 200
    assert page.context["platform_owned"] is True  # type: ignore[attr-defined]
    html = page.text
    assert 'id="platform-owned"' in html and "read-only" in html
    assert '<fieldset class="plain" disabled>' in html and "Save changes" not in html
    assert 'value="https://learn.example/s/p-1"' in html
    assert "View fields" in admin.get(f"/admin/sessions/{sid}").text
    # A post anyway (a stale tab, a crafted request) saves nothing and says why
    values = page.context["values"]  # type: ignore[attr-defined]
    resp = admin.post(
        f"/admin/sessions/{sid}/edit",
        data={**values, "title": "Typed by an admin", "csrf_token": csrf_of(admin)},
        follow_redirects=False,
    )
    assert resp.status_code == 409
    assert "the learning platform owns this session" in resp.context["errors"]["form"]  # type: ignore[attr-defined]
    with Session(engine_under_test) as db:
        row = db.get(LiveSession, sid)
        assert row is not None and row.title == "Platform session" and row.revision == 1
        assert not db.exec(select(AuditEvent).where(AuditEvent.session_id == sid,
                                                    AuditEvent.actor.startswith("user:"))).all()  # type: ignore[union-attr]
    assert sent == []


def test_a_session_created_in_the_admin_ui_stays_editable(
    client_as: Callable[..., TestClient], world: World, engine_under_test: Engine, sent: list[uuid.UUID]
) -> None:
    client = client_as("organizer")
    sid = world.acme.own_session
    page = client.get(f"/admin/sessions/{sid}/edit")
    assert page.context["platform_owned"] is False  # type: ignore[attr-defined]
    assert "Save changes" in page.text and 'id="platform-owned"' not in page.text
    with Session(engine_under_test) as db:
        row = db.get(LiveSession, sid)
        assert row is not None and row.platform_owned is False
