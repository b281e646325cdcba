"""End to end: platform changes reach Google as the smallest writes, with one email per meaningful change.

Where it sits: ``tests/sync``; runs on both stacks. Emails are counted in the emulator's outbox, which
models Google's per-recipient behaviour for ``sendUpdates=all`` (added guests: invitation; removed:
cancellation; existing: update only when the event's details changed).
"""

from __future__ import annotations

from collections import Counter

from tests.integration.sync.conftest import Stack, _write_count, organizers, people, session_body


def _emails(event: dict) -> set[str]:  # type: ignore[type-arg]
    return {a["email"] for a in event.get("attendees") or []}


def _setup(stack: Stack, n: int = 5, waitlisted: int = 2) -> tuple[str, list[str], list[str], list[str]]:
    hosts = organizers()[:2]
    learners = people("l", n + waitlisted, start=40)
    stack.put_session("s-ch", session_body(hosts=hosts, enrolled=learners[:n], waitlisted=learners[n:]))
    stack.idle()
    return "s-ch", hosts, learners[:n], learners[n:]


def test_unenroll_removes_and_promotion_adds_without_emailing_the_others(stack: Stack) -> None:
    ext, hosts, enrolled, waiting = _setup(stack)
    sid = stack.session_id(ext)
    before = len(stack.emu.outbox())
    stack.emu.reset_counters()
    # When one learner cancels and a waitlisted one is promoted
    assert stack.request("DELETE", f"/v1/sessions/{ext}/enrollments/{enrolled[0]}").status_code == 204
    r = stack.request("PUT", f"/v1/sessions/{ext}/enrollments/{waiting[0]}", {"status": "enrolled"})
    assert r.status_code in (200, 201), r.text
    stack.idle()
    (event,) = stack.emu.events_of(sid)
    # Then the attendees follow, with attendee-only patches that e-mail nobody (Google would e-mail every
    # guest for a membership change; see docs/notifications.md)
    assert _emails(event) == set(hosts) | set(enrolled[1:]) | {waiting[0]}
    assert 1 <= _write_count(stack.emu.counters()) <= 2
    assert stack.emu.outbox()[before:] == []


def test_membership_change_riding_with_a_reschedule_is_one_email_each(stack: Stack) -> None:
    ext, hosts, enrolled, waiting = _setup(stack)
    sid = stack.session_id(ext)
    before = len(stack.emu.outbox())
    body = session_body(
        hosts=hosts,
        enrolled=[*enrolled[1:], waiting[0]],
        waitlisted=waiting[1:],
        start="2027-02-03T09:00:00+01:00",
        end="2027-02-03T10:00:00+01:00",
    )
    stack.put_session(ext, body)
    stack.idle()
    (event,) = stack.emu.events_of(sid)
    assert _emails(event) == set(hosts) | set(enrolled[1:]) | {waiting[0]}
    mails = sorted((m["kind"], m["to"]) for m in stack.emu.outbox()[before:])
    expected = [("cancellation", enrolled[0]), ("invitation", waiting[0])] + [
        ("update", e) for e in set(hosts) | set(enrolled[1:])
    ]
    assert mails == sorted(expected)


def test_reschedule_is_one_patch_and_one_email_per_attendee(stack: Stack) -> None:
    ext, hosts, enrolled, _ = _setup(stack)
    sid = stack.session_id(ext)
    body = session_body(
        hosts=hosts,
        enrolled=enrolled,
        waitlisted=[],
        start="2027-02-02T15:00:00+01:00",
        end="2027-02-02T16:30:00+01:00",
    )
    body.pop("enrollments")
    before = len(stack.emu.outbox())
    stack.emu.reset_counters()
    stack.put_session(ext, body)
    stack.idle()
    (event,) = stack.emu.events_of(sid)
    assert event["start"]["dateTime"].startswith("2027-02-02T15:00:00")
    assert _write_count(stack.emu.counters()) == 1
    mails = stack.emu.outbox()[before:]
    assert Counter(m["to"] for m in mails) == Counter(set(hosts) | set(enrolled))
    assert {m["kind"] for m in mails} == {"update"}


def test_cosmetic_edit_sends_no_email(stack: Stack) -> None:
    ext, hosts, enrolled, _ = _setup(stack)
    sid = stack.session_id(ext)
    body = session_body(
        hosts=hosts, enrolled=enrolled, title="Intro to SQL (fixed typo)", description="Bring questions."
    )
    body.pop("enrollments")
    before = len(stack.emu.outbox())
    stack.put_session(ext, body)
    stack.idle()
    (event,) = stack.emu.events_of(sid)
    assert event["summary"] == "Intro to SQL (fixed typo)"
    assert stack.emu.outbox()[before:] == []


def test_cancel_then_reopen_then_remove(stack: Stack) -> None:
    ext, hosts, enrolled, _ = _setup(stack)
    sid = stack.session_id(ext)
    body = session_body(hosts=hosts, enrolled=enrolled)
    body.pop("enrollments")
    # Cancellation deletes the event; Google tells every attendee
    before = len(stack.emu.outbox())
    stack.put_session(ext, {**body, "status": "cancelled"})
    stack.idle()
    assert stack.emu.events_of(sid) == []
    (tomb,) = stack.emu.events_of(sid, live_only=False)
    assert tomb["status"] == "cancelled"
    cancels = stack.emu.outbox()[before:]
    assert sorted(m["to"] for m in cancels) == sorted(set(hosts) | set(enrolled))
    assert {m["kind"] for m in cancels} == {"cancellation"}
    assert stack.binding(sid).sync_status == "removed"  # type: ignore[union-attr]
    # Reopening restores the same event (the id cannot be reused)
    stack.put_session(ext, {**body, "status": "scheduled"})
    stack.idle()
    (event,) = stack.emu.events_of(sid)
    assert event["id"] == tomb["id"] and event["status"] == "confirmed"
    assert _emails(event) == set(hosts) | set(enrolled)
    # Removing the session removes the event
    assert stack.request("DELETE", f"/v1/sessions/{ext}").status_code == 204
    stack.idle()
    assert stack.emu.events_of(sid) == []
    assert len(stack.emu.events_of(sid, live_only=False)) == 1
