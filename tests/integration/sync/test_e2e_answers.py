"""End to end: a guest's answer survives every later write of the guest list (vendor mode, both stacks).

Where it sits: ``tests/integration/sync``; REST API → workers → emulator. The emulator models Google's rule
that an attendee re-sent without ``responseStatus`` is reset to ``needsAction``, so these tests fail when a
write drops the answers.
"""

from __future__ import annotations

from tests.integration.sync.conftest import Stack, organizers, people, session_body


def _answers(event: dict) -> dict[str, tuple[str, str | None]]:  # type: ignore[type-arg]
    return {a["email"]: (a.get("responseStatus"), a.get("comment")) for a in event.get("attendees") or []}


def test_an_accepted_learner_stays_accepted_after_ten_others_enroll(stack: Stack) -> None:
    hosts = organizers()[:1]
    learners = people("l", 13)
    first, later = learners[:3], learners[3:]
    stack.put_session("s-rsvp", session_body(hosts=hosts, enrolled=first))
    stack.idle()
    sid = stack.session_id("s-rsvp")
    binding = stack.binding(sid)
    assert binding is not None and binding.calendar_id and binding.event_id
    # Given one learner accepted with a comment, another declined, and a host accepted
    world = stack.emu.world
    assert world.set_attendee_response(binding.calendar_id, binding.event_id, first[0], "accepted", "see you")
    assert world.set_attendee_response(binding.calendar_id, binding.event_id, first[1], "declined")
    assert world.set_attendee_response(binding.calendar_id, binding.event_id, hosts[0], "accepted")
    # When ten other learners enroll, one at a time (ten guest-list writes), and the title changes
    for i in range(1, len(later) + 1):
        stack.put_session("s-rsvp", session_body(hosts=hosts, enrolled=first + later[:i]))
    stack.put_session("s-rsvp", session_body(hosts=hosts, enrolled=learners, title="Intro to SQL (2)"))
    stack.idle()
    # Then the answers are exactly as the guests gave them; newcomers have not answered
    [event] = stack.emu.events_of(sid)
    answers = _answers(event)
    assert set(answers) == set(hosts) | set(learners)
    assert event["summary"] == "Intro to SQL (2)"
    assert answers[first[0]] == ("accepted", "see you")
    assert answers[first[1]] == ("declined", None)
    assert answers[hosts[0]][0] == "accepted"
    assert answers[first[2]] == ("needsAction", None)
    assert {answers[e][0] for e in later} == {"needsAction"}
