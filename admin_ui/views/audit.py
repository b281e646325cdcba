"""Audit log (admins; viewers read): every recorded platform write, sync step and admin action, filtered.

Where it sits: reads :func:`engine.admin.queries.list_audit`. Filters: action (prefix, e.g. ``sync.``),
session (id), actor (substring), date range (UTC days, inclusive); 50 per page.
"""

from __future__ import annotations

import uuid
from datetime import date

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from admin_ui.auth import CurrentUser, db_engine, require
from admin_ui.templating import render
from engine.admin.queries import audit_actions, list_audit
from engine.admin.roles import Need
from engine.store.unit_of_work import unit_of_work

router = APIRouter()


def _date(value: str, name: str, errors: dict[str, str]) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        errors[name] = "a date like 2026-11-30"
        return None


@router.get("/audit")
def audit_page(
    request: Request,
    action: str = "",
    session: str = "",
    actor: str = "",
    since: str = "",
    until: str = "",
    page: int = 1,
    user: CurrentUser = Depends(require(Need.READ_TENANT)),
) -> Response:
    errors: dict[str, str] = {}
    session_id = None
    if session:
        try:
            session_id = uuid.UUID(session)
        except ValueError:
            errors["session"] = "a session id (copy it from the session's page)"
    since_d, until_d = _date(since, "since", errors), _date(until, "until", errors)
    with unit_of_work(db_engine(request)) as uow:
        events, pager = list_audit(
            db=uow.db,
            tenant_id=user.tenant_id,
            action=action or None,
            session_id=session_id,
            actor=actor or None,
            since=since_d,
            until=until_d,
            page=page,
        )
        actions = audit_actions(db=uow.db, tenant_id=user.tenant_id)
    filters = {"action": action, "session": session, "actor": actor, "since": since, "until": until}
    return render(
        request,
        "admin/audit/list.html",
        {
            "events": events,
            "page": pager,
            "filters": filters,
            "errors": errors,
            "actions": actions,
        },
        status_code=400 if errors else 200,
    )
