"""Organizers page (admins; viewers read): connection status, last error, reconnect link, departures at risk.

Where it sits: reads :func:`engine.admin.queries.organizer_rows` and the organizer lifecycle's
single-point-of-failure report (:func:`engine.lifecycle.spof.spof_report`): upcoming sessions whose owner is
leaving or suspended with no co-host to inherit them (a stored successor setting the schema refuses is shown
as its ``config_error`` line instead of a report under guessed rules).
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from admin_ui.auth import CurrentUser, db_engine, require
from admin_ui.templating import render
from engine.admin.queries import organizer_rows
from engine.admin.roles import Need
from engine.errors import TenantSettingInvalid
from engine.lifecycle.spof import spof_report
from engine.store.types import utcnow
from engine.store.unit_of_work import unit_of_work

router = APIRouter()


@router.get("/organizers")
def organizers_page(request: Request, user: CurrentUser = Depends(require(Need.READ_TENANT))) -> Response:
    now = utcnow()
    settings = request.app.state.settings
    with unit_of_work(db_engine(request)) as uow:
        rows = organizer_rows(db=uow.db, tenant_id=user.tenant_id, now=now)
        spof_error = None
        try:
            spof = spof_report(db=uow.db, now=now, tenant_id=user.tenant_id)
        except TenantSettingInvalid as exc:
            spof, spof_error = [], str(exc)
    problems = [r for r in rows if r.needs_action]
    return render(
        request,
        "admin/organizers/list.html",
        {
            "rows": rows,
            "spof": spof,
            "spof_error": spof_error,
            "problem_count": len(problems),
            "reconnect_url": settings.base_url.rstrip("/") + "/admin/account",
        },
    )
