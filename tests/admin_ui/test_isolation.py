"""Tenant isolation, walked: every admin page, form and REST route, as tenant A with tenant B's ids.

Where it sits: the whole web app (:func:`admin_ui.web.create_web_app`: admin UI + REST API) on SQLite and
PostgreSQL. Tenant B ("globex") holds data of every kind: sessions with hosts, learners, a synced binding
with Meet link and room, Google connections, audit events, a mode switch, a leaving organizer, an API key,
an identity status and live metrics. The routes are read from the apps' own OpenAPI documents, so a route
added later is walked too (a path parameter this test does not know fails it).

For each route, A's admin (and A's API key) sends B's ids, then a "twin" request with ids nobody has.
What is proved:

* no answer contains anything of B: each string and id stored in B's rows (collected from every table,
  not listed by hand) is searched for in every answer, except the value A itself sent;
* B's ids are indistinguishable from unknown ones: same status, and for reads the same body once the sent
  value is blanked (no existence oracle);
* after every write A attempted with B's ids, B's rows are exactly as before.
"""

from __future__ import annotations

import difflib
import json
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from sqlalchemy.engine import Engine
from sqlmodel import Session, SQLModel
from starlette.routing import Mount
from starlette.testclient import TestClient

from engine.delegation import oauth
from engine.ingest.tenants import issue_api_key
from engine.runtime import metrics
from engine.store.models import (
    AuditEvent,
    CalendarBinding,
    GoogleIdentityStatus,
    LiveSession,
    ModeSwitch,
    Person,
    WebhookDelivery,
)
from engine.store.unit_of_work import unit_of_work
from tests.admin_ui.conftest import csrf_of
from tests.admin_ui.factories import World


@pytest.fixture
def engine_under_test(db_engine: Engine) -> Engine:
    """Both stacks: SQLite, then PostgreSQL."""
    return db_engine


@pytest.fixture(autouse=True)
def recording_dispatcher(sent: list[uuid.UUID]) -> list[uuid.UUID]:
    """Writes of the walk are handed to a recorder, never to a worker."""
    return sent


@dataclass
class Tenants:
    a_key: str
    b_session: LiveSession
    b_external_id: str
    b_organizer: str
    b_learner: str
    b_admin: str
    b_switch_id: uuid.UUID
    b_state: str  #: a valid OAuth state for B's organizer (signed with the deployment's key)
    b_delivery_id: uuid.UUID | None = None  #: a webhook B's platform was sent


def _give_b_everything(engine: Engine, world: World, web_app: FastAPI, client: TestClient) -> Tenants:
    b = world.other
    with unit_of_work(engine) as uow:
        a_key = issue_api_key(db=uow.db, tenant_id=world.acme.tenant_id, name="isolation")
        b_key = issue_api_key(db=uow.db, tenant_id=b.tenant_id, name="isolation-b")
    with Session(engine) as db:
        # Distinctive text in every place B has text, so a leak cannot hide behind a shared word.
        for sid, title in ((b.own_session, "Globex merger briefing"), (b.other_session, "Globex layoffs plan")):
            s = db.get(LiveSession, sid)
            assert s is not None
            s.title, s.description, s.location = title, "Globex confidential agenda", "Globex HQ, floor 9"
            db.add(s)
        for role, pid in b.people.items():
            p = db.get(Person, pid)
            assert p is not None
            p.display_name = f"Globex {role.title()} Person"
            db.add(p)
        binding = db.exec(sa.select(CalendarBinding).where(CalendarBinding.session_id == b.own_session)).scalar_one()
        binding.calendar_id = binding.owner_email = "owner1@muster-globex.example"
        binding.event_id = "globexevent0123456789"
        binding.room_email, binding.room_name = "room-globex-boardroom@resource.globex.example", "Globex Boardroom"
        binding.meet_link = "https://meet.google.com/glo-bexx-mtg"
        db.add(binding)
        switch = ModeSwitch(
            tenant_id=b.tenant_id,
            from_mode="vendor",
            to_mode="delegation",
            plan=[{"session_id": str(b.own_session), "title": "Globex merger briefing"}],
            requested_by="user:admin@globex.example",
        )
        db.add(switch)
        delivery = WebhookDelivery(
            tenant_id=b.tenant_id, event_type="enrollment.promoted", session_id=b.own_session, status="failed",
            attempts=25, last_status_code=500, last_error="globex platform down",
            payload={"tenant": "globex", "data": {"email": "promoted-globex@globex.example"}},
        )
        db.add(delivery)
        db.add(
            AuditEvent(
                tenant_id=b.tenant_id,
                actor="user:admin@globex.example",
                action="admin.policies",
                subject="globex",
                detail={"fallback_owner_email": "ceo@globex.example"},
            )
        )
        db.add(
            GoogleIdentityStatus(
                email="owner1@muster-globex.example", kind="vendor", status="auth_error", last_error="globex denied"
            )
        )
        db.commit()
        b_session = db.get(LiveSession, b.own_session)
        assert b_session is not None
        db.expunge(b_session)
        switch_id = switch.id
        delivery_id = delivery.id
    # B's platform announces a departure through the REST API (B's key).
    left = client.put(
        "/v1/people/colleague@globex.example/departure", json={}, headers={"Authorization": f"Bearer {b_key}"}
    )
    assert left.status_code == 200, left.text
    # B's sync work counted in the live metrics.
    with metrics.tenant_scope(b.tenant_id):
        metrics.record_request("calendar.events.insert", "200", "ok")
        metrics.record_call("owner1@muster-globex.example", "insert", "ok")
        metrics.record_request("calendar.events.patch", "401", "auth")
        metrics.record_call("owner1@muster-globex.example", "patch", "auth")
        metrics.record_reconcile("auth_error")
    state = oauth._serializer(web_app.state.settings).dumps(
        {"t": str(b.tenant_id), "p": str(b.people["organizer"]), "n": "0123abcd"}
    )
    return Tenants(
        a_key=a_key,
        b_session=b_session,
        b_external_id=b_session.external_id,
        b_organizer=b.emails["organizer"],
        b_learner=b.emails["learner"],
        b_admin=b.emails["admin"],
        b_switch_id=switch_id,
        b_state=state,
        b_delivery_id=delivery_id,
    )


# ---------------------------------------------------------------- what B holds, from every table
def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, uuid.UUID):
        yield str(value)
    elif isinstance(value, dict):  # keys are field names, the same in every tenant
        for v in value.values():
            yield from _strings(v)
    elif isinstance(value, list | tuple):
        for v in value:
            yield from _strings(v)


def _rows_by_table(engine: Engine) -> dict[str, list[dict[str, Any]]]:
    with engine.connect() as conn:
        return {
            t.name: [dict(r._mapping) for r in conn.execute(sa.select(t))]
            for t in SQLModel.metadata.sorted_tables
        }


def _owned_by(tenant_id: uuid.UUID, tables: dict[str, list[dict[str, Any]]]) -> dict[str, list[dict[str, Any]]]:
    """Each table's rows that belong to ``tenant_id`` (directly, or through its sessions, people, identities)."""
    sessions = {r["id"] for r in tables["live_session"] if r["tenant_id"] == tenant_id}
    people = {r["id"] for r in tables["person"] if r["tenant_id"] == tenant_id}
    emails = {r["email"] for r in tables["person"] if r["tenant_id"] == tenant_id}
    for r in tables["tenant"]:
        if r["id"] == tenant_id:
            emails |= set(r["vendor_owner_emails"])
    owned: dict[str, list[dict[str, Any]]] = {}
    for name, rows in tables.items():
        keep = []
        for r in rows:
            if name == "tenant":
                mine = r["id"] == tenant_id
            elif "tenant_id" in r:
                mine = r["tenant_id"] == tenant_id
            elif "session_id" in r:
                mine = r["session_id"] in sessions
            elif "person_id" in r:
                mine = r["person_id"] in people
            elif name == "google_identity_status":
                mine = r["email"] in emails
            else:
                mine = False
            if mine:
                keep.append(r)
        owned[name] = keep
    return owned


#: Column values that say nothing about whom they belong to (enumerations, hashes are checked as ids).
NOT_IDENTIFYING = {
    *("password_hash", "key_hash", "status", "kind", "role", "sync_status", "video", "time_zone", "action"),
    *("integration_mode", "delegation_method", "from_mode", "to_mode", "error_class", "meet_status", "reason"),
    "room_status",
    "event_type",
}


def _markers(world: World, tables: dict[str, list[dict[str, Any]]]) -> set[str]:
    """Every string and id in B's rows that does not also occur in A's rows (shared words prove nothing)."""
    mine = _owned_by(world.other.tenant_id, tables)
    theirs = _owned_by(world.acme.tenant_id, tables)

    def values(owned: dict[str, list[dict[str, Any]]]) -> set[str]:
        return {
            s
            for rows in owned.values()
            for r in rows
            for col, v in r.items()
            if col not in NOT_IDENTIFYING
            for s in _strings(v)
            if len(s) >= 6
        }

    found = values(mine) - values(theirs)
    assert any("globex" in m.lower() for m in found) and len(found) > 40, "B has data of every kind"
    return found


# ---------------------------------------------------------------- the routes, from the apps themselves
def _routes(web_app: FastAPI) -> list[tuple[str, str]]:
    api = next(m.app for m in web_app.routes if isinstance(m, Mount) and m.path == "")
    found: list[tuple[str, str]] = []
    for doc in (web_app.openapi(), api.openapi()):  # type: ignore[attr-defined]
        for path, item in doc["paths"].items():
            found += [(method.upper(), path) for method in item if method in ("get", "post", "put", "patch", "delete")]
    # Sign-out last: it ends A's session.
    return sorted(found, key=lambda r: (r[1] == "/admin/logout", r[0] != "GET", r[1], r[0]))


def _fill(path: str, values: dict[str, str]) -> str:
    out = path
    for name in ("session_id", "external_id", "email", "delivery_id"):
        out = out.replace("{" + name + "}", values[name])
    assert "{" not in out, f"{path}: a path parameter this test has no B value for; add it to _fill"
    return out


def _b_values(t: Tenants) -> dict[str, str]:
    return {
        "session_id": str(t.b_session.id),
        "external_id": t.b_external_id,
        "email": t.b_organizer,
        "title": t.b_session.title,
        "person": t.b_learner,
        "admin": t.b_admin,
        "switch_id": str(t.b_switch_id),
        "state": t.b_state,
        "delivery_id": str(t.b_delivery_id),
    }


def _twin_values() -> dict[str, str]:
    return {
        "session_id": str(uuid.uuid4()),
        "external_id": "no-such-session-" + uuid.uuid4().hex[:8],
        "email": f"nobody-{uuid.uuid4().hex[:6]}@nowhere.example",
        "title": "No such title " + uuid.uuid4().hex[:6],
        "person": f"noone-{uuid.uuid4().hex[:6]}@nowhere.example",
        "admin": f"noadmin-{uuid.uuid4().hex[:6]}@nowhere.example",
        "switch_id": str(uuid.uuid4()),
        "delivery_id": str(uuid.uuid4()),
        "state": "not-a-state." + uuid.uuid4().hex,
    }


def _request(
    client: TestClient, method: str, path: str, v: dict[str, str], a_key: str, world: World
) -> tuple[Any, list[str]]:
    """Send one request with the ids in ``v``; returns the response and the values that were sent."""
    url = _fill(path, v)
    sent = [v["session_id"], v["external_id"], v["email"], v["delivery_id"]] if "{" in path else []
    headers = {"Authorization": f"Bearer {a_key}"}
    if path.startswith("/v1/"):
        body: Any = None
        if method == "PUT" and path == "/v1/sessions/{external_id}":
            body = {
                "title": "A's own session",
                "timeZone": "UTC",
                "start": "2031-01-01T10:00:00+00:00",
                "end": "2031-01-01T11:00:00+00:00",
                "organizer": world.acme.emails["organizer"],
                "coHosts": [v["email"]],
            }
        elif method in ("PUT", "PATCH") and path.endswith("/enrollments"):
            body = {"enrollments": [{"email": v["person"]}]}
        elif method == "PUT" and path.endswith("/departure"):
            body = {}
        params = {"session": v["session_id"]} if method == "GET" else None
        sent += [v["person"]] if body and "enrollments" in body else []
        return client.request(method, url, json=body, params=params, headers=headers, follow_redirects=False), sent
    if path == "/oauth/google/callback":
        return client.get(url, params={"state": v["state"], "code": "4/abc"}, follow_redirects=False), [v["state"]]
    if method == "GET":
        params = {"session": v["session_id"], "q": v["title"], "actor": v["admin"]}
        echoed = [*sent, v["session_id"], v["title"], v["admin"]]
        return client.get(url, params=params, follow_redirects=False), echoed
    form = {
        "csrf_token": csrf_of(client),
        "tenant": "globex" if path == "/admin/login" else "acme",
        "email": v["admin"],
        "password": "wrong password for this walk",
        "external_id": v["external_id"],
        "title": "A's form session",
        "organizer": world.acme.emails["organizer"],
        "co_hosts": v["email"],
        "presenters": v["person"],
        "fallback_owner_email": v["admin"],
        "guest_list": "hidden",
        "send_updates": "none",
        "target_mode": "vendor",
        "confirm": "vendor",
        "switch_id": v["switch_id"],
        "next": f"/admin/sessions/{v['session_id']}",
    }
    sent += [v["external_id"], v["email"], v["person"], v["admin"], v["switch_id"], v["session_id"], form["tenant"]]
    return client.post(url, data=form, follow_redirects=False), sent


def _blank(text: str, sent: list[str]) -> str:
    for value in sorted(set(sent), key=len, reverse=True):
        text = text.replace(value, "<sent>")
        text = text.replace(json.dumps(value)[1:-1], "<sent>")
    return text


def _leaks(text: str, markers: set[str]) -> list[str]:
    low = text.lower()
    return sorted(m for m in markers if m.lower() in low)


def _b_state(engine: Engine, world: World) -> str:
    def plain(v: Any) -> Any:
        return v.isoformat() if isinstance(v, datetime | date) else str(v) if isinstance(v, uuid.UUID) else v

    owned = _owned_by(world.other.tenant_id, _rows_by_table(engine))
    return json.dumps({k: [{c: plain(x) for c, x in r.items()} for r in v] for k, v in owned.items()}, sort_keys=True)


def test_tenant_a_sees_nothing_of_tenant_b_anywhere(
    web_app: FastAPI,
    world: World,
    engine_under_test: Engine,
    client_as: Callable[..., TestClient],
) -> None:
    metrics.reset()
    client = client_as("admin")  # A's admin: the widest view A has
    t = _give_b_everything(engine_under_test, world, web_app, client)
    markers = _markers(world, _rows_by_table(engine_under_test))
    before = _b_state(engine_under_test, world)
    client.get("/admin/sessions")  # shows (and clears) the sign-in flash before the walk
    walked: list[str] = []
    problems: list[str] = []
    twin_values = _twin_values()  # one set for the whole walk: the twin of a write sees the twin's earlier writes
    for method, path in _routes(web_app):
        response, sent = _request(client, method, path, _b_values(t), t.a_key, world)
        twin, twin_sent = _request(client, method, path, twin_values, t.a_key, world)
        walked.append(f"{method} {path}")
        where = f"{method} {path} -> {response.status_code}"
        if response.status_code >= 500 and response.status_code != 503:  # 503: readiness says "not ready"
            problems.append(f"{where}: server error")
        leaked = _leaks(_blank(response.text + json.dumps(dict(response.headers)), sent), markers)
        if leaked:
            problems.append(f"{where}: shows B's {leaked[:5]}")
        if response.status_code != twin.status_code:
            problems.append(f"{where}: B's ids answer differently from unknown ids ({twin.status_code})")
        elif method == "GET" and _blank(response.text, sent) != _blank(twin.text, twin_sent):
            diff = difflib.unified_diff(
                _blank(twin.text, twin_sent).splitlines(), _blank(response.text, sent).splitlines(), lineterm="", n=0
            )
            problems.append(f"{where}: B's ids change the page compared with unknown ids: {list(diff)[2:8]}")
        if method != "GET" and _b_state(engine_under_test, world) != before:
            problems.append(f"{where}: changed B's data")
            before = _b_state(engine_under_test, world)
    assert not problems, "\n".join(problems)
    # Every route was walked, admin and REST alike (the list comes from the apps, so this guards the walk).
    assert {"GET /admin/health", "GET /admin/sessions/{session_id}", "PUT /v1/sessions/{external_id}"} <= set(walked)
    assert len(walked) >= 35
    metrics.reset()
