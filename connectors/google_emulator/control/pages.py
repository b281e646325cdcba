"""Read-only HTML pages of the emulator: an index and a week view of any calendar.

Where it sits: ``control_routes`` of ``app.py`` (``/_emulator/`` and ``/_emulator/calendar/{email}``),
so never behind Google auth or the fault/quota middleware. The week view shows a user's or a room's
calendar as its owner would see it in Google Calendar — titles, times in the calendar's time zone,
each attendee's response, the Meet link and the room — so a demo or a failing test can be inspected in
a browser. Server-rendered, no JavaScript.
"""

from __future__ import annotations

import html
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import BaseRoute, Route

from connectors.google_emulator.calendar import busy
from connectors.google_emulator.paths import path_param
from connectors.google_emulator.state import World

STYLE = """
body{font-family:system-ui,sans-serif;margin:1.5rem;color:#202124}
table{border-collapse:collapse;width:100%}td,th{border:1px solid #dadce0;vertical-align:top;padding:.4rem}
th{background:#f1f3f4}.ev{border-left:4px solid #1a73e8;background:#e8f0fe;margin:.3rem 0;padding:.3rem}
.ev.declined{border-color:#d93025;background:#fce8e6;text-decoration:line-through}
.muted{color:#5f6368;font-size:.85em}.accepted{color:#188038}.declined{color:#d93025}
.needsAction,.tentative{color:#b06000}nav a{margin-right:1rem}
"""


def _page(title: str, body: str, status: int = 200) -> HTMLResponse:
    doc = (f"<!doctype html><html lang=en><head><meta charset=utf-8><title>{html.escape(title)}</title>"
           f"<style>{STYLE}</style></head><body><nav><a href='/_emulator/'>Emulator index</a></nav>"
           f"<h1>{html.escape(title)}</h1>{body}</body></html>")
    return HTMLResponse(doc, status_code=status)


def _event_html(world: World, piece: busy.Piece, calendar_id: str, zone: Any) -> str:
    data = piece.data
    start, end = piece.start.astimezone(zone), piece.end.astimezone(zone)
    declined = piece.response == "declined"
    rows = []
    room_names = []
    for att in data.get("attendees") or []:
        email = str(att.get("email", "")).lower()
        status = str(att.get("responseStatus", "needsAction"))
        res = world.resources.get(email)
        if res is not None:
            label = str(res.data.get("generatedResourceName") or email)
        else:
            label = str(att.get("displayName") or email)
        if res is not None or att.get("resource"):
            room_names.append(f"{html.escape(label)} (<span class={status}>{status}</span>)")
            continue
        flags = " (organizer)" if att.get("organizer") else ""
        rows.append(f"<li>{html.escape(label)}{flags}: <span class={status}>{status}</span></li>")
    meet = data.get("hangoutLink")
    conf = (data.get("conferenceData") or {}).get("createRequest", {}).get("status", {}).get("statusCode")
    parts = [f"<div class='ev{' declined' if declined else ''}'>",
             f"<b>{html.escape(str(data.get('summary') or '(No title)'))}</b><br>",
             f"<span class=muted>{start:%H:%M}-{end:%H:%M} {html.escape(str(zone))}</span>"]
    organizer = (data.get("organizer") or {}).get("email")
    if organizer and organizer != calendar_id:
        parts.append(f"<br><span class=muted>organizer {html.escape(str(organizer))}</span>")
    if room_names:
        parts.append("<br>Room: " + ", ".join(room_names))
    if meet:
        parts.append(f"<br>Meet: <a href='{html.escape(str(meet))}'>{html.escape(str(meet))}</a>")
    elif conf:
        parts.append(f"<br>Meet: {html.escape(str(conf))}")
    if data.get("location"):
        parts.append(f"<br><span class=muted>{html.escape(str(data['location']))}</span>")
    if rows:
        parts.append(f"<details><summary>{len(rows)} guest(s)</summary><ul>{''.join(rows)}</ul></details>")
    parts.append("</div>")
    return "".join(parts)


def week_view(world: World, calendar_id: str, week: date) -> HTMLResponse:
    with world.lock:
        cal = world.calendars.get(calendar_id)
        if cal is None:
            return _page("Calendar not found", f"<p>No calendar <code>{html.escape(calendar_id)}</code> "
                         "in the emulated Workspace.</p>", 404)
        zone = busy.zone_of(cal.timeZone)
        monday = week - timedelta(days=week.weekday())
        t_min = datetime.combine(monday, time(), tzinfo=zone).astimezone(UTC)
        t_max = datetime.combine(monday + timedelta(days=7), time(), tzinfo=zone).astimezone(UTC)
        days: dict[date, list[str]] = {monday + timedelta(days=i): [] for i in range(7)}
        for piece in busy.pieces(world, calendar_id, t_min, t_max):
            day = piece.start.astimezone(zone).date()
            if day in days:
                days[day].append(_event_html(world, piece, calendar_id, zone))
        res = world.resources.get(calendar_id)
        title = str(res.data.get("generatedResourceName")) if res else calendar_id
    prev_w, next_w = monday - timedelta(days=7), monday + timedelta(days=7)
    base = f"/_emulator/calendar/{html.escape(calendar_id)}"
    head = "".join(f"<th>{d:%a %d %b}</th>" for d in days)
    cells = "".join(f"<td>{''.join(items) or '<span class=muted>—</span>'}</td>" for items in days.values())
    body = (f"<p class=muted>Time zone {html.escape(str(zone))} · week of {monday.isoformat()} · "
            f"<a href='{base}?week={prev_w.isoformat()}'>previous</a> "
            f"<a href='{base}?week={next_w.isoformat()}'>next</a></p>"
            f"<table><tr>{head}</tr><tr>{cells}</tr></table>")
    return _page(f"Calendar of {title}", body)


def index(world: World) -> HTMLResponse:
    with world.lock:
        users = sorted(world.users.values(), key=lambda u: u.email)
        rooms = sorted(world.resources.values(), key=lambda r: r.email)
        counts = {cid: len(evs) for cid, evs in world.events.items()}
    user_rows = "".join(
        f"<tr><td><a href='/_emulator/calendar/{html.escape(u.email)}'>{html.escape(u.email)}</a></td>"
        f"<td>{html.escape(str(u.name.get('fullName', '')))}</td>"
        f"<td>{'admin' if u.isAdmin else ''}{' suspended' if u.suspended else ''}"
        f"{' deleted' if u.deleted else ''}</td><td>{counts.get(u.email, 0)}</td></tr>" for u in users)
    room_rows = "".join(
        f"<tr><td><a href='/_emulator/calendar/{html.escape(r.email)}'>"
        f"{html.escape(str(r.data.get('generatedResourceName') or r.email))}</a></td>"
        f"<td>{html.escape(str(r.data.get('capacity', '')))}</td>"
        f"<td>{html.escape(', '.join(r.bookable_by) or 'anyone in the domain')}</td></tr>" for r in rooms)
    body = (f"<h2>Users ({len(users)})</h2><table><tr><th>E-mail</th><th>Name</th><th>State</th>"
            f"<th>Events organized</th></tr>{user_rows}</table>"
            f"<h2>Rooms ({len(rooms)})</h2><table><tr><th>Room</th><th>Capacity</th><th>Bookable by</th></tr>"
            f"{room_rows}</table>")
    return _page("Google Workspace emulator", body)


def control_routes(world: World) -> list[BaseRoute]:
    async def index_page(request: Request) -> HTMLResponse:
        return index(world)

    async def calendar_page(request: Request) -> HTMLResponse:
        raw = request.query_params.get("week")
        if raw:
            try:
                week = date.fromisoformat(raw)
            except ValueError:
                return _page("Bad request", f"<p>Query parameter <code>week</code> must be a date like "
                             f"2027-03-01, not <code>{html.escape(raw)}</code>.</p>", 400)
        else:
            week = world.now().date()
        return week_view(world, path_param(request, "email").lower(), week)

    return [Route("/_emulator/", index_page, methods=["GET"]),
            Route("/_emulator/calendar/{email}", calendar_page, methods=["GET"])]
