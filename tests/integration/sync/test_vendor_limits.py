"""Vendor mode says what it cannot do: a session asking for Meet or a room carries a status and a reason in
REST and the admin UI, never "Meet pending" forever next to "synced".

Where it sits: ``tests/integration/sync``; both stacks, the vendor-mode tenant of ``conftest.py``.
"""

from __future__ import annotations

from starlette.testclient import TestClient

from engine.sync.record import VENDOR_LIMIT_REASON
from tests.integration.sync.conftest import Stack, organizers, people, session_body
from tests.integration.sync.test_settings_sync import admin_ui  # noqa: F401  (the signed-in admin UI fixture)


def test_meet_and_room_wishes_in_vendor_mode_carry_a_status_and_a_reason(
    stack: Stack, admin_ui: TestClient  # noqa: F811
) -> None:
    body = session_body(hosts=organizers()[:1], enrolled=people("l", 2, start=90), video="meet",
                        room={"minCapacity": 4})
    body.pop("manualJoinLink")
    stack.put_session("s-vendor", body)
    stack.idle()
    sync = stack.request("GET", "/v1/sessions/s-vendor").json()["sync"]
    # The event is synced (with no conference and no room) and the binding says why
    assert sync["status"] == "synced", sync
    assert (sync["meetStatus"], sync["meetError"]) == ("unsupported", VENDOR_LIMIT_REASON)
    assert (sync["roomStatus"], sync["roomError"]) == ("unsupported", VENDOR_LIMIT_REASON)
    (event,) = stack.emu.events_of(stack.session_id("s-vendor"))
    assert "conferenceData" not in event
    page = admin_ui.get("/admin/sessions")
    assert "no Meet in vendor mode" in page.text and "no room in vendor mode" in page.text
    assert "Meet pending" not in page.text
    detail = admin_ui.get(f"/admin/sessions/{stack.session_id('s-vendor')}")
    assert VENDOR_LIMIT_REASON in detail.text
    # When the platform pastes a link instead, the note goes away
    body.update(video="manual", manualJoinLink="https://zoom.example/j/2")
    body.pop("room")
    stack.put_session("s-vendor", body)
    stack.idle()
    sync = stack.request("GET", "/v1/sessions/s-vendor").json()["sync"]
    assert sync["status"] == "synced"
    assert (sync["meetStatus"], sync["meetError"], sync["roomStatus"], sync["roomError"]) == (None, None, None, None)
