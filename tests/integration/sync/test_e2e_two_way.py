"""End to end: one call per change, a 412 on a stale etag, and edits made in Google under both policies.

Where it sits: ``tests/integration/sync``; runs on both stacks (SQLite + embedded worker, PostgreSQL + Redis +
worker processes). Google is the emulator; someone editing an event "in Google" is the real client acting as
the owner account. The change feed's report (``note_remote_change``) is driven by its contract: the binding is
marked changed-in-Google and a background reconcile is asked for after commit
(:func:`engine.sync.lanes.verify_after_commit`).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from sqlmodel import Session, select

from connectors.google.calendar import GoogleCalendarFactory
from connectors.google.credentials import ServiceAccountSource, token_uri_for
from connectors.ports.calendar import Actor
from engine.admin.people import add_person, issue_admin_token
from engine.cli.reconcile import run_reconcile
from engine.store.models import AuditEvent, Person, Tenant, WebhookDelivery
from engine.store.types import utcnow
from engine.store.unit_of_work import unit_of_work
from engine.sync import record
from engine.sync.lanes import verify_after_commit
from tests.integration.sync.conftest import Stack, _write_count, organizers, people, session_body


def _emails(event: dict[str, Any]) -> set[str]:
    return {a["email"] for a in event.get("attendees") or []}


def _google(stack: Stack, owner: str) -> Any:
    """The events resource of a person editing the owner's calendar in Google."""
    source = ServiceAccountSource(json.loads(stack.emu.key_file.read_text()), token_uri=token_uri_for(stack.emu.url))
    return GoogleCalendarFactory(source, root_url=stack.emu.url)(Actor("vendor", owner))._svc().events()


def _changed_in_google(stack: Stack, sid: Any) -> None:
    """What the change feed does when it sees the event change (note_remote_change's contract)."""
    with unit_of_work(stack.engine) as uow:
        binding = record.get_binding(db=uow.db, session_id=sid)
        assert binding is not None
        binding.remote_changed_at = utcnow()
        uow.db.add(binding)
        verify_after_commit(uow.db, sid)


def _admin_patch(stack: Stack, body: dict[str, Any]) -> dict[str, Any]:
    """``PATCH /v1/admin/tenant`` with an admin token, as a customer's admin would."""
    with unit_of_work(stack.engine) as uow:
        tenant = uow.db.get(Tenant, stack.tenant_id)
        assert tenant is not None
        email = "it-admin@acme.example"
        if not uow.db.exec(select(Person).where(Person.tenant_id == tenant.id, Person.email == email)).first():
            add_person(db=uow.db, tenant=tenant, email=email, role="admin", actor="test")
        token = issue_admin_token(db=uow.db, tenant=tenant, email=email, actor="test")
    r = stack.api.patch("/v1/admin/tenant", json=body, headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200, r.text
    return dict(r.json())


def _set_policy(stack: Stack, **policy: str) -> None:
    """Through the admin REST API (the same schema the engine reads)."""
    answer = _admin_patch(stack, {"settings": {"google_changes": policy}})
    assert answer["settings"]["google_changes"] == {**{"edits": "platform_wins", "deleted": "recreate"}, **policy}


def _changes_audited(stack: Stack, sid: Any) -> list[dict[str, Any]]:
    with Session(stack.engine) as db:
        rows = db.exec(
            select(AuditEvent)
            .where(AuditEvent.session_id == sid, AuditEvent.action == "session.changed_in_google")
            .order_by(AuditEvent.at)  # type: ignore[arg-type]
        ).all()
        return [dict(r.detail) for r in rows]


@pytest.fixture
def receiver() -> Iterator[str]:
    """The platform's webhook endpoint: answers 200 to every delivery (what it received is in the log)."""

    class Ok(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *_args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Ok)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hooks"
    finally:
        server.shutdown()
        server.server_close()


def _want_webhooks(stack: Stack, url: str) -> None:
    """The tenant's platform listens for webhooks at ``url`` (set up through the admin REST API)."""
    _admin_patch(stack, {"settings": {"webhooks": {"url": url}}, "webhookSecret": "s3cret-for-the-test-0123456789"})


def _google_change_webhooks(stack: Stack, sid: Any) -> list[dict[str, Any]]:
    with Session(stack.engine) as db:
        rows = db.exec(
            select(WebhookDelivery).where(
                WebhookDelivery.session_id == sid, WebhookDelivery.event_type == "session.changed_in_google"
            )
        ).all()
        return [dict(r.payload["data"]) for r in rows]


def _session(stack: Stack, ext: str, n: int = 3, start: int = 200) -> tuple[Any, list[str], list[str], dict[str, Any]]:
    hosts = organizers()[:1]
    learners = people("l", n, start=start)
    stack.put_session(ext, session_body(hosts=hosts, enrolled=learners))
    stack.idle()
    sid = stack.session_id(ext)
    (event,) = stack.emu.events_of(sid)
    return sid, hosts, learners, event


def _enroll(stack: Stack, ext: str, email: str) -> None:
    r = stack.request("PUT", f"/v1/sessions/{ext}/enrollments/{email}", {"status": "enrolled"})
    assert r.status_code in (200, 201), r.text
    stack.idle()


def test_an_enrollment_is_one_call_when_nothing_changed_in_google(stack: Stack) -> None:
    sid, hosts, learners, _ = _session(stack, "s-one", start=150)
    newcomer = people("n", 1, start=153)[0]
    stack.emu.reset_counters()
    # When a learner enrolls and nobody touched the event in Google
    _enroll(stack, "s-one", newcomer)
    # Then the attendee is there after exactly one Google call: a conditional patch, no read first
    (event,) = stack.emu.events_of(sid)
    assert _emails(event) == set(hosts) | set(learners) | {newcomer}
    counters = stack.emu.counters()
    calls = {k: v for k, v in counters["by_route"].items() if "/events" in k and v}
    assert sum(calls.values()) == 1 and all(k.startswith("PATCH") for k in calls), calls
    binding = stack.binding(sid)
    assert binding is not None and binding.etag == event["etag"]


def test_a_stale_etag_is_read_replanned_and_written_nothing_lost(stack: Stack) -> None:
    sid, hosts, learners, event = _session(stack, "s-412", start=156)
    owner = event["organizer"]["email"]
    # Given the organizer renames the event in Google and the change feed has not told Muster yet
    _google(stack, owner).patch(
        calendarId=owner, eventId=event["id"], sendUpdates="none", body={"summary": "Renamed in Google"}
    ).execute()
    stack.emu.reset_counters()
    # When a learner enrolls
    newcomer = people("n", 1, start=159)[0]
    _enroll(stack, "s-412", newcomer)
    # Then the conditional patch met 412, the event was read, re-planned and written: the learner is in and
    # (the platform wins by default) the title restored
    (after,) = stack.emu.events_of(sid)
    assert _emails(after) == set(hosts) | set(learners) | {newcomer}
    assert after["summary"] == "Intro to SQL"
    by_status = stack.emu.counters()["by_status"]
    assert by_status.get("412") == 1 or by_status.get(412) == 1, by_status
    assert _changes_audited(stack, sid) == [
        {"fields": ["summary"], "policy": "platform_wins", "outcome": "restored"}
    ]
    binding = stack.binding(sid)
    assert binding is not None and binding.sync_status == "synced" and binding.etag == after["etag"]


def test_an_organizer_moving_the_event_is_restored_when_the_platform_wins(stack: Stack, receiver: str) -> None:
    _want_webhooks(stack, receiver)
    sid, _hosts, _learners, event = _session(stack, "s-move-pw", start=162)
    owner = event["organizer"]["email"]
    start = event["start"]["dateTime"]
    _google(stack, owner).patch(
        calendarId=owner, eventId=event["id"], sendUpdates="none",
        body={"start": {"dateTime": "2027-02-01T18:00:00+01:00", "timeZone": "Europe/Berlin"},
              "end": {"dateTime": "2027-02-01T19:00:00+01:00", "timeZone": "Europe/Berlin"}},
    ).execute()
    # When the change feed reports it
    _changed_in_google(stack, sid)
    stack.idle()
    # Then the platform's time is back, audited once; a second report of the same state changes nothing
    (after,) = stack.emu.events_of(sid)
    assert after["start"]["dateTime"] == start
    assert _changes_audited(stack, sid) == [{"fields": ["time"], "policy": "platform_wins", "outcome": "restored"}]
    (told,) = _google_change_webhooks(stack, sid)
    assert told["fields"] == ["time"] and told["action"] == "restored" and told["deleted"] is False
    assert told["event_id"] == event["id"] and told["session_external_id"] == "s-move-pw"
    stack.emu.reset_counters()
    _changed_in_google(stack, sid)
    stack.idle()
    assert _write_count(stack.emu.counters()) == 0
    assert len(_changes_audited(stack, sid)) == 1  # Muster's own restore is not a change made in Google
    assert len(_google_change_webhooks(stack, sid)) == 1
    binding = stack.binding(sid)
    assert binding is not None and binding.remote_changed_at is None


def test_an_organizer_moving_the_event_is_kept_and_reported_under_report_only(stack: Stack) -> None:
    _set_policy(stack, edits="report_only")
    sid, hosts, learners, event = _session(stack, "s-move-ro", start=168)
    owner = event["organizer"]["email"]
    guest = "hand-added@partner.example"
    _google(stack, owner).patch(
        calendarId=owner, eventId=event["id"], sendUpdates="none",
        body={"start": {"dateTime": "2027-02-01T18:00:00+01:00", "timeZone": "Europe/Berlin"},
              "end": {"dateTime": "2027-02-01T19:00:00+01:00", "timeZone": "Europe/Berlin"},
              "attendees": [*event["attendees"], {"email": guest}]},
    ).execute()
    _changed_in_google(stack, sid)
    stack.idle()
    # Then the move and the hand-added guest stay, reported once
    (after,) = stack.emu.events_of(sid)
    assert after["start"]["dateTime"].startswith("2027-02-01T18:00:00")
    assert guest in _emails(after)
    assert _changes_audited(stack, sid) == [
        {"fields": ["attendees", "time"], "policy": "report_only", "outcome": "kept"}
    ]
    # When the platform enrolls a learner and renames the session afterwards
    newcomer = people("n", 1, start=171)[0]
    _enroll(stack, "s-move-ro", newcomer)
    stack.put_session("s-move-ro", session_body(hosts=hosts, enrolled=[*learners, newcomer], title="Renamed"))
    stack.idle()
    # Then what the platform changed is written and what only Google changed is still kept
    (final,) = stack.emu.events_of(sid)
    assert final["summary"] == "Renamed"
    assert final["start"]["dateTime"].startswith("2027-02-01T18:00:00")
    assert _emails(final) == set(hosts) | set(learners) | {newcomer, guest}
    assert len(_changes_audited(stack, sid)) == 1


def test_a_deleted_event_is_recreated_by_default(stack: Stack) -> None:
    sid, hosts, learners, event = _session(stack, "s-del-re", start=174)
    owner = event["organizer"]["email"]
    _google(stack, owner).delete(calendarId=owner, eventId=event["id"], sendUpdates="none").execute()
    _changed_in_google(stack, sid)
    stack.idle()
    (after,) = stack.emu.events_of(sid)
    assert after["status"] == "confirmed" and after["id"] == event["id"]
    assert _emails(after) == set(hosts) | set(learners)
    assert _changes_audited(stack, sid) == [{"deleted": True, "policy": "recreate", "outcome": "recreated"}]


def _stored_answers(stack: Stack, ext: str) -> dict[str, tuple[str, str | None] | None]:
    """The learners' answers as Muster stored them (``GET /v1/sessions/{id}/enrollments``)."""
    resp = stack.request("GET", f"/v1/sessions/{ext}/enrollments")
    assert resp.status_code == 200, resp.text
    return {e["email"]: (e["response"]["status"], e["response"]["comment"]) if e["response"] else None
            for e in resp.json()}


def _answers(event: dict[str, Any]) -> dict[str, tuple[str | None, str | None]]:
    return {a["email"]: (a.get("responseStatus"), a.get("comment")) for a in event.get("attendees") or []}


def _accepts(stack: Stack, sid: Any, ext: str, event: dict[str, Any], learner: str, host: str) -> None:
    """A learner accepts (with a comment) and a host accepts in Google; Muster reads and stores both."""
    owner = event["organizer"]["email"]
    assert stack.emu.world.set_attendee_response(owner, event["id"], learner, "accepted", "count me in")
    assert stack.emu.world.set_attendee_response(owner, event["id"], host, "accepted")
    _changed_in_google(stack, sid)
    stack.idle()
    assert _stored_answers(stack, ext)[learner] == ("accepted", "count me in")


def _minimal_tombstone(stack: Stack, calendar_id: str, event_id: str) -> None:
    """The deleted event as Google may keep it: "all other cancelled events ... are only guaranteed to have
    the id field" (Event.status; the organizer's copy often keeps its details, which the emulator models)."""
    world = stack.emu.world
    with world.lock:
        stored = world.events[calendar_id][event_id]
        assert stored.deleted
        stored.data.pop("attendees", None)


@pytest.mark.parametrize(
    ("how", "tombstone"), [("policy", "full"), ("policy", "minimal"), ("flag_then_cli", "minimal")]
)
def test_a_recreated_event_after_a_deletion_in_google_keeps_the_stored_answers(
    stack: Stack, how: str, tombstone: str
) -> None:
    if how == "flag_then_cli":
        _set_policy(stack, deleted="flag")
    ext = f"s-del-ans-{how}-{tombstone}"
    hosts = organizers()[:2]
    learners = people("l", 3, start={"full": 189, "minimal": 192}[tombstone] + (3 if how == "flag_then_cli" else 0))
    stack.put_session(ext, session_body(hosts=hosts, enrolled=learners))
    stack.idle()
    sid = stack.session_id(ext)
    (event,) = stack.emu.events_of(sid)
    owner = event["organizer"]["email"]
    guest_host = next(h for h in hosts if h != owner)
    # Given a learner accepted with a comment and a co-host accepted, as Muster observed and stored
    _accepts(stack, sid, ext, event, learners[0], guest_host)
    # When someone deletes the event in Google (its tombstone with or without its guests)
    _google(stack, owner).delete(calendarId=owner, eventId=event["id"], sendUpdates="none").execute()
    if tombstone == "minimal":
        _minimal_tombstone(stack, owner, event["id"])
    _changed_in_google(stack, sid)
    stack.idle()
    if how == "flag_then_cli":  # flagged; an admin runs `muster reconcile --session ID --recreate`
        assert stack.emu.events_of(sid) == []
        lines: list[str] = []
        assert run_reconcile(stack.settings, session_id=sid, all_sessions=False, echo=lines.append,
                             recreate=True) == 0
    # Then the event is back, and the guests' answers with it, in Google and in REST
    (after,) = stack.emu.events_of(sid)
    assert after["status"] == "confirmed"
    answers = _answers(after)
    assert answers[learners[0]] == ("accepted", "count me in")
    assert answers[guest_host][0] == "accepted"
    assert {answers[e][0] for e in learners[1:]} == {"needsAction"}
    assert _stored_answers(stack, ext)[learners[0]] == ("accepted", "count me in")


def test_a_deleted_event_is_flagged_and_recreated_on_request_under_flag(stack: Stack, receiver: str) -> None:
    _set_policy(stack, deleted="flag")
    _want_webhooks(stack, receiver)
    sid, hosts, learners, event = _session(stack, "s-del-fl", start=180)
    owner = event["organizer"]["email"]
    _google(stack, owner).delete(calendarId=owner, eventId=event["id"], sendUpdates="none").execute()
    _changed_in_google(stack, sid)
    stack.idle()
    # Then it stays deleted; the session says why and how to bring it back, in REST too
    assert stack.emu.events_of(sid) == []
    sync = stack.request("GET", "/v1/sessions/s-del-fl").json()["sync"]
    assert sync["status"] == "blocked" and "deleted_in_google" in sync["lastError"], sync
    assert "--recreate" in sync["lastError"]
    # A platform change does not bring it back either (nothing written), and is not reported twice
    stack.emu.reset_counters()
    _enroll(stack, "s-del-fl", people("n", 1, start=183)[0])
    assert _write_count(stack.emu.counters()) == 0 and stack.emu.events_of(sid) == []
    assert _changes_audited(stack, sid) == [{"deleted": True, "policy": "flag", "outcome": "flagged"}]
    (told,) = _google_change_webhooks(stack, sid)
    assert told["deleted"] is True and told["action"] == "flagged" and told["policy"] == "flag"
    # When an admin asks for it
    lines: list[str] = []
    assert run_reconcile(stack.settings, session_id=sid, all_sessions=False, echo=lines.append, recreate=True) == 0
    (after,) = stack.emu.events_of(sid)
    assert after["status"] == "confirmed" and len(_emails(after)) == len(hosts) + len(learners) + 1
    binding = stack.binding(sid)
    assert binding is not None and binding.sync_status == "synced", binding and binding.last_error
    with Session(stack.engine) as db:
        tenant = db.get(Tenant, stack.tenant_id)
        assert tenant is not None and tenant.settings["google_changes"]["deleted"] == "flag"


def _feed(stack: Stack) -> Any:
    """One pass of the change feed, as its timer or a push notification runs it (incremental sync per calendar)."""
    from engine.feed.run import sync_all
    from engine.runtime.ratelimit import MemoryRateLimiter
    from engine.runtime.wiring import build_feed_factory

    return sync_all(stack.engine, build_feed_factory(stack.settings, limiter=MemoryRateLimiter()))


def test_the_change_feed_drives_both_policies_end_to_end(stack: Stack) -> None:
    """No stand-in: the feed's own incremental sync notices the edit and the deletion made in Google."""
    sid, _hosts, _learners, event = _session(stack, "s-feed-move", start=186)
    _feed(stack)  # the baseline listing of each calendar Muster writes to
    stack.idle()
    owner = event["organizer"]["email"]
    google = _google(stack, owner)
    google.patch(
        calendarId=owner, eventId=event["id"], sendUpdates="none",
        body={"start": {"dateTime": "2027-02-01T18:00:00+01:00", "timeZone": "Europe/Berlin"},
              "end": {"dateTime": "2027-02-01T19:00:00+01:00", "timeZone": "Europe/Berlin"}},
    ).execute()
    assert _feed(stack).noted >= 1
    stack.idle()
    (after,) = stack.emu.events_of(sid)
    assert after["start"]["dateTime"] == event["start"]["dateTime"]  # the platform wins by default
    assert _changes_audited(stack, sid) == [{"fields": ["time"], "policy": "platform_wins", "outcome": "restored"}]
    # Muster's own restore is no change for the feed to report: no loop
    stack.emu.reset_counters()
    _feed(stack)
    stack.idle()
    assert _write_count(stack.emu.counters()) == 0 and len(_changes_audited(stack, sid)) == 1
    # Then, under flag, the organizer deletes it
    _set_policy(stack, deleted="flag")
    stack.idle()
    google.delete(calendarId=owner, eventId=event["id"], sendUpdates="none").execute()
    assert _feed(stack).noted >= 1
    stack.idle()
    assert stack.emu.events_of(sid) == []
    binding = stack.binding(sid)
    assert binding is not None and binding.sync_status == "blocked" and binding.error_class == "google_deleted"
    assert _changes_audited(stack, sid)[-1] == {"deleted": True, "policy": "flag", "outcome": "flagged"}
