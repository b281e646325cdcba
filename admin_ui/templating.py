"""Templates, filters and the one ``render`` every admin view returns through.

Where it sits: views in :mod:`admin_ui.views` call :func:`render` with a template name under
``admin/<area>/`` and their context; it adds what every page needs (the user, the CSRF token, flashed
messages, the navigation) and returns ``TemplateResponse`` so tests can assert on ``response.template``
and ``response.context`` (house style §13). :func:`flash` and :func:`redirect` finish every POST.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import Request
from fastapi.responses import RedirectResponse
from fastapi.templating import Jinja2Templates
from starlette.responses import Response

from admin_ui.auth import CSRF_FIELD, CurrentUser, csrf_token, load_user
from engine.admin.roles import Need

TEMPLATE_DIR = Path(__file__).resolve().parent / "templates"
STATIC_DIR = Path(__file__).resolve().parent / "static"

templates = Jinja2Templates(directory=str(TEMPLATE_DIR))

#: Badge colour per status word (sync, connection, person, enrollment); unknown words are grey.
BADGES = {
    "synced": "ok",
    "connected": "ok",
    "active": "ok",
    "enrolled": "ok",
    "scheduled": "ok",
    "success": "ok",
    "accepted": "ok",
    "pass": "ok",
    "ok": "ok",
    "pending": "info",
    "needsAction": "info",
    "waitlisted": "info",
    "leaving": "warn",
    "expired": "warn",
    "error": "bad",
    "blocked": "bad",
    "revoked": "bad",
    "suspended": "bad",
    "failure": "bad",
    "declined": "bad",
    "fail": "bad",
    "cancelled": "muted",
    "removed": "muted",
    "not_connected": "warn",
    "domain_wide": "ok",
    "not_needed": "muted",
    "deleted": "muted",
    "warn": "warn",
    "unsupported": "warn",
    "running": "info",
    "done": "ok",
    "paused": "warn",
    "previewed": "muted",
    "wait": "warn",
    "skipped": "muted",
    "tentative": "warn",
    "delivered": "ok",
    "failed": "bad",
    "parked": "bad",
}


def badge(value: object) -> str:
    return BADGES.get(str(value), "muted")


def fmt_dt(value: datetime | None, zone: str | None = None) -> str:
    """``2026-11-30 09:30 UTC`` (or in ``zone``, with its abbreviation)."""
    if value is None:
        return "—"
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    if zone:
        local = value.astimezone(ZoneInfo(zone))
        return local.strftime("%Y-%m-%d %H:%M ") + (local.tzname() or zone)
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


templates.env.filters["badge"] = badge
templates.env.filters["dt"] = fmt_dt
templates.env.globals["CSRF_FIELD"] = CSRF_FIELD
#: Connection states in words (organizers page, session hosts).
CONNECTION_LABELS = {
    "not_connected": "not connected",
    "domain_wide": "via domain-wide delegation",
    "not_needed": "not needed (vendor mode)",
}
templates.env.globals["CONNECTION_LABELS"] = CONNECTION_LABELS
#: Google's answers to an invitation in words (session detail).
ANSWER_LABELS = {"accepted": "accepted", "tentative": "maybe", "declined": "declined", "needsAction": "no answer yet"}
templates.env.globals["ANSWER_LABELS"] = ANSWER_LABELS

#: Navigation: (label, path, roles that see it).
NAV = [
    ("Sessions", "/admin/sessions", Need.READ_SESSIONS),
    ("Integration", "/admin/integration", Need.READ_TENANT),
    ("Organizers", "/admin/organizers", Need.READ_TENANT),
    ("People", "/admin/people", Need.READ_TENANT),
    ("Health", "/admin/health", Need.READ_TENANT),
    ("Audit log", "/admin/audit", Need.READ_TENANT),
    ("Webhooks", "/admin/webhooks", Need.READ_TENANT),
    ("My Google", "/admin/account", Need.CONNECT_GOOGLE),
]


def flash(request: Request, message: str, level: str = "ok") -> None:
    """Queue a message for the next page shown to this session."""
    request.session.setdefault("flashes", [])
    request.session["flashes"] = [*request.session["flashes"], [level, message]]


def redirect(path: str) -> RedirectResponse:
    """POST → 303 See Other → GET (house style §13)."""
    return RedirectResponse(path, status_code=303)


def render(request: Request, name: str, context: dict[str, Any] | None = None, status_code: int = 200) -> Response:
    user: CurrentUser | None = load_user(request)
    flashes = request.session.pop("flashes", []) if "session" in request.scope else []
    nav = [(label, path) for label, path, need in NAV if user is not None and user.may(need)]
    ctx: dict[str, Any] = {
        "user": user,
        "csrf_token": csrf_token(request) if "session" in request.scope else "",
        "flashes": flashes,
        "nav": nav,
        "path": request.url.path,
        #: The sign-in page offers "Sign in with Google" when the server has an OAuth client.
        "google_sign_in_offered": bool(getattr(request.app.state.settings, "google_oauth_client_id", None)),
    }
    ctx.update(context or {})
    return templates.TemplateResponse(request, name, ctx, status_code=status_code)
