"""Room names and a series' per-date rooms on the session pages.

Where it sits: :mod:`admin_ui.views.sessions` + :mod:`admin_ui.services.room_names` through the real app. The
binding's stored room name wins over the Directory (no Directory is reachable here, so a name on the
page can only come from the binding); per-date rooms come from ``blocked_detail["room_exceptions"]``.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy.engine import Engine
from sqlmodel import Session, select
from starlette.testclient import TestClient

from admin_ui.services import room_names
from engine.store.models import CalendarBinding
from tests.admin_ui.factories import World

SERIES_ROOM = "c_series@resource.calendar.google.com"
DATE_ROOM = "c_date@resource.calendar.google.com"


def test_detail_shows_stored_room_names_and_dates_with_other_rooms(
    client_as: Callable[..., TestClient], world: World, engine_under_test: Engine
) -> None:
    room_names.clear()
    with Session(engine_under_test) as db:
        binding = db.exec(select(CalendarBinding).where(CalendarBinding.session_id == world.acme.own_session)).one()
        binding.room_email, binding.room_name, binding.room_status = SERIES_ROOM, "Berlin-HQ-2-Lovelace (6)", "accepted"
        binding.blocked_detail = {
            "room_exceptions": [
                {
                    "original_start": "2027-05-18T10:00:00Z",
                    "room_email": DATE_ROOM,
                    "room_name": "Berlin-HQ-3-Hopper (8)",
                    "status": "accepted",
                    "reason": f"{SERIES_ROOM} declined this date (busy); Berlin-HQ-3-Hopper (8) is booked for it",
                },
                {
                    "original_start": "2027-05-25T10:00:00Z",
                    "room_email": None,
                    "room_name": None,
                    "status": "none",
                    "reason": "no room available: all 4 fitting room(s) are busy at that time",
                },
            ]
        }
        db.add(binding)
        db.commit()
    client = client_as("admin")
    page = client.get(f"/admin/sessions/{world.acme.own_session}")
    assert page.status_code == 200
    html = page.text
    assert "Berlin-HQ-2-Lovelace (6)" in html and f'title="{SERIES_ROOM}"' in html
    assert 'id="room-exceptions"' in html
    table = html[html.index('id="room-exceptions"') :]
    table = table[: table.index("</table>")]
    assert "Berlin-HQ-3-Hopper (8)" in table and "no room" in table and "all 4 fitting room(s) are busy" in table
    assert "2027-05-18" in table and "2027-05-25" in table
    # The list page prefers the stored name too.
    listing = client.get("/admin/sessions").text
    assert "Berlin-HQ-2-Lovelace (6)" in listing


def test_detail_without_series_dates_has_no_date_table(client_as: Callable[..., TestClient], world: World) -> None:
    page = client_as("admin").get(f"/admin/sessions/{world.acme.own_session}")
    assert page.status_code == 200 and 'id="room-exceptions"' not in page.text
