"""Organizer delegation: guests' answers survive a transfer (move and Data Transfer) and later enrollments.

Where it sits: ``tests/integration/lifecycle``; REST API → reconciler → emulator → lifecycle sweep, on
SQLite and PostgreSQL. The emulator resets a guest re-sent without ``responseStatus`` to ``needsAction``.
"""

from __future__ import annotations

import pytest

from tests.integration.lifecycle.conftest import Life
from tests.integration.sync.conftest import people

RADIA, GRACE, KEN, LINUS = ("radia.backus10@acme.example", "grace.lamport2@acme.example",
                            "ken.allen5@acme.example", "linus.goldberg3@acme.example")
LEARNERS = people("l", 13)


def _answers(event: dict) -> dict[str, tuple[str, str | None]]:  # type: ignore[type-arg]
    return {a["email"]: (a.get("responseStatus"), a.get("comment")) for a in event.get("attendees") or []}


@pytest.mark.parametrize(("old", "new", "how"), [(RADIA, GRACE, "departure"), (KEN, LINUS, "suspension")])
def test_answers_survive_a_transfer_and_ten_enrollments(life: Life, old: str, new: str, how: str) -> None:
    for who in (old, new):
        life.connect(who)
    first, later = LEARNERS[:3], LEARNERS[3:]
    sid = life.put_session("s-ans", hosts=[old, new], room=False, video="none", learners=first)
    assert life.settle(sid).outcome == "success"
    before = life.binding(sid)
    assert before.owner_email == old and before.event_id
    # Given a learner accepted (with a comment) and another declined, as seen on the organizer's event
    assert life.emu.world.set_attendee_response(old, before.event_id, first[0], "accepted", "count me in")
    assert life.emu.world.set_attendee_response(old, before.event_id, first[1], "declined")
    # When the organizer leaves (planned: move; sudden suspension: Data Transfer then adoption)
    if how == "departure":
        assert life.request("PUT", f"/v1/people/{old}/departure", {}).status_code == 200
    else:
        life.emu.control("POST", f"users/{old}/suspend", {"reason": "ADMIN"})
    report = life.sweep()
    assert [s.outcome for p in report.transfers for s in p.sessions] == ["transferred"]
    after = life.binding(sid)
    assert (after.owner_email, after.event_id) == (new, before.event_id)
    moved = life.event(new, before.event_id)
    assert moved is not None
    assert _answers(moved)[first[0]] == ("accepted", "count me in")
    # And then ten other learners enroll, one write each
    for i in range(1, len(later) + 1):
        life.put_session("s-ans", hosts=[old, new], room=False, video="none", learners=first + later[:i])
        assert life.settle(sid).outcome == "success"
    event = life.event(new, before.event_id)
    assert event is not None and event["organizer"]["email"] == new
    answers = _answers(event)
    # Then the answers are the guests' own; newcomers have not answered
    assert set(LEARNERS) <= set(answers)
    assert answers[first[0]] == ("accepted", "count me in")
    assert answers[first[1]] == ("declined", None)
    assert answers[first[2]] == ("needsAction", None)
    assert {answers[e][0] for e in later} == {"needsAction"}


def test_answers_survive_the_recreate_after_the_organizers_account_is_deleted(life: Life) -> None:
    for who in (KEN, LINUS):
        life.connect(who)
    learners = LEARNERS[:3]
    sid = life.put_session("s-ans-gone", hosts=[KEN, LINUS], room=False, video="none", learners=learners)
    assert life.settle(sid).outcome == "success"
    before = life.binding(sid)
    assert before.owner_email == KEN and before.event_id
    # Given a learner accepted (with a comment) and the co-host accepted, as Muster read and stored them
    assert life.emu.world.set_attendee_response(KEN, before.event_id, learners[0], "accepted", "count me in")
    assert life.emu.world.set_attendee_response(KEN, before.event_id, LINUS, "accepted")
    assert life.reconciler.reconcile(sid, verify=True).outcome == "success"
    stored = life.request("GET", "/v1/sessions/s-ans-gone/enrollments").json()
    assert {e["email"]: e["response"] and e["response"]["status"] for e in stored}[learners[0]] == "accepted"
    # When the organizer's account is deleted (its calendar is gone: the old event cannot be read)
    life.emu.control("DELETE", f"users/{KEN}")
    report = life.sweep()
    [item] = [s for p in report.transfers for s in p.sessions]
    assert (item.outcome, item.path, item.successor) == ("transferred", "recreate", LINUS)
    life.settle(sid)
    after = life.binding(sid)
    assert after.owner_email == LINUS and after.event_id and after.event_id != before.event_id
    created = life.event(LINUS, after.event_id)
    assert created is not None
    answers = _answers(created)
    # Then the recreated event carries the stored answers; the others have not answered
    assert answers[learners[0]] == ("accepted", "count me in")
    assert {answers[e][0] for e in learners[1:]} == {"needsAction"}
    assert LINUS not in answers  # the new organizer is not a guest of their own event
    # And later enrollments keep them
    life.put_session("s-ans-gone", hosts=[KEN, LINUS], room=False, video="none", learners=LEARNERS[:5])
    assert life.settle(sid).outcome == "success"
    event = life.event(LINUS, after.event_id)
    assert event is not None and _answers(event)[learners[0]] == ("accepted", "count me in")
