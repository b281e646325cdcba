"""End to end: sessions written through the REST API land in the emulator exactly once, on both stacks.

Where it sits: ``tests/sync``; each test runs on SQLite + embedded worker and on PostgreSQL + Redis + two
``muster worker`` processes (the ``stack`` fixture). Assertions are on the emulator's end state and outbox.
"""

from __future__ import annotations

from tests.integration.sync.conftest import Stack, _write_count, organizers, people, session_body


def _emails(event: dict) -> set[str]:  # type: ignore[type-arg]
    return {a["email"] for a in event.get("attendees") or []}


def test_session_with_hosts_learners_and_waitlist_gives_one_event(stack: Stack) -> None:
    # Given 2 hosts, 30 enrolled learners and 5 waitlisted ones
    hosts = organizers()[:2]
    learners = people("l", 35)
    enrolled, waitlisted = learners[:30], learners[30:]
    stack.put_session(
        "s-1",
        session_body(
            hosts=hosts, enrolled=enrolled, waitlisted=waitlisted, url="https://learn.example/sessions/s-1"
        ),
    )
    # When the sync settles
    stack.idle()
    sid = stack.session_id("s-1")
    events = stack.emu.events_of(sid)
    # Then exactly one event holds the hosts and enrolled learners, never the waitlisted ones
    assert len(events) == 1
    assert _emails(events[0]) == set(hosts) | set(enrolled)
    assert len(events[0]["attendees"]) == 32
    assert not _emails(events[0]) & set(waitlisted)
    ev = events[0]
    assert ev["guestsCanInviteOthers"] is False
    assert ev["guestsCanSeeOtherGuests"] is False
    assert ev["location"] == "https://zoom.example/j/1"
    # The description links to the platform's own page for the session, never to a Muster URL that 404s
    assert "Session page: https://learn.example/sessions/s-1" in ev["description"]
    assert "muster.test" not in ev["description"]
    assert ev["start"]["timeZone"] == "Europe/Berlin"
    binding = stack.binding(sid)
    assert binding is not None and binding.sync_status == "synced" and binding.event_id == ev["id"]
    # Each attendee got one invitation
    invites = stack.emu.outbox(kind="invitation", eventId=ev["id"])
    assert sorted(m["to"] for m in invites) == sorted(set(hosts) | set(enrolled))


def test_description_links_the_platform_page_only_when_sent(stack: Stack) -> None:
    # Given a session sent without a url
    hosts = organizers()[:1]
    stack.put_session("s-url", session_body(hosts=hosts, enrolled=[]))
    stack.idle()
    sid = stack.session_id("s-url")
    [event] = stack.emu.events_of(sid)
    # Then its description carries the platform's text and the join link, and no link to a session page
    assert event["description"] == "Live session. Bring your questions.\n\nJoin: https://zoom.example/j/1"
    # When the platform later sends its page's URL, the event links to it
    stack.put_session("s-url", session_body(hosts=hosts, enrolled=[], url="https://learn.example/s/url"))
    stack.idle()
    [event] = stack.emu.events_of(sid)
    assert event["description"].endswith("\n\nSession page: https://learn.example/s/url")
    assert stack.api.get("/v1/sessions/s-url", headers=stack.auth).json()["url"] == "https://learn.example/s/url"


def test_reconcile_twice_makes_no_write(stack: Stack) -> None:
    hosts = organizers()[:1]
    stack.put_session("s-2", session_body(hosts=hosts, enrolled=people("l", 3)))
    stack.idle()
    sid = stack.session_id("s-2")
    stack.emu.reset_counters()
    from engine.runtime.wiring import build_runtime

    runtime = build_runtime(stack.settings, engine=stack.engine)
    first = runtime.reconciler.reconcile(sid)
    second = runtime.reconciler.reconcile(sid)
    assert (first.writes, second.writes) == (0, 0)
    assert first.ops == ("unchanged",) and second.ops == ("unchanged",)
    assert _write_count(stack.emu.counters()) == 0
    assert len(stack.emu.events_of(sid)) == 1
