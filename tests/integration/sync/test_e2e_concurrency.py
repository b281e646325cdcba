"""End to end under concurrency: a burst of single enrollments never pushes an event past 200 guests.

Where it sits: ``tests/integration/sync``, PostgreSQL + Redis + two ``muster worker`` processes (the
``postgres_stack``), the REST API called from many threads at once, the result read from the emulator.
"""

from __future__ import annotations

from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import httpx

from tests.integration.sync.conftest import Stack, organizers, session_body


def test_250_concurrent_enrollments_leave_the_event_with_exactly_200_guests(postgres_stack: Stack) -> None:
    stack = postgres_stack
    host = organizers()[0]
    stack.put_session("crowd", session_body(hosts=[host], enrolled=[]))
    stack.idle()
    sid = stack.session_id("crowd")

    def enroll(i: int) -> httpx.Response:
        return stack.request("PUT", f"/v1/sessions/crowd/enrollments/crowd{i:03d}@acme.example")

    with ThreadPoolExecutor(max_workers=32) as pool:
        answers = list(pool.map(enroll, range(250)))

    codes = Counter(r.status_code for r in answers)
    assert codes == {201: 199, 422: 51}, codes
    assert all("the limit is 200" in r.json()["detail"][0]["msg"] for r in answers if r.status_code == 422)
    stack.idle(120)
    (event,) = stack.emu.events_of(sid)
    guests = [a["email"] for a in event.get("attendees") or []]
    assert len(guests) == 200 and len(set(guests)) == 200
    assert host in guests
    accepted = {f"crowd{i:03d}@acme.example" for i, r in enumerate(answers) if r.status_code == 201}
    assert set(guests) == accepted | {host}
