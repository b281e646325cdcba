"""Sessions: the list (sync status, Meet link, room, counts, filters) and one session's detail page.

Where it sits: reads through :mod:`engine.admin.queries`; "Resync now" records an audit event and asks
for a reconcile through the unit of work, which hands the id to the sync engine's dispatcher only after
the commit (house style §6). Organizers see and resync only the sessions they host; viewers only read.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from fastapi import APIRouter, Depends, Request
from starlette.datastructures import FormData
from starlette.responses import Response

from admin_ui.auth import CurrentUser, NotFound, PermissionDenied, csrf_form, db_engine, require
from admin_ui.services.room_names import names_for
from admin_ui.services.sync import request_resync
from admin_ui.templating import flash, redirect, render
from engine.admin.queries import PROBLEMS, SessionDetail, list_sessions, record_audit, session_detail
from engine.admin.roles import Need
from engine.store.models import SessionStatus
from engine.store.unit_of_work import unit_of_work

router = APIRouter()

STATUS_FILTERS = {s.value: s.value.title() for s in SessionStatus} | {"removed": "Removed"}


def parse_uuid(value: str, what: str = "session") -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise NotFound(what) from None


def _only_own(user: CurrentUser) -> uuid.UUID | None:
    """The person id when their role limits them to the sessions they host (see engine.admin.roles)."""
    return user.own_sessions_only


@router.get("/sessions")
def session_list(
    request: Request,
    status: str = "",
    problem: str = "",
    q: str = "",
    page: int = 1,
    user: CurrentUser = Depends(require(Need.READ_SESSIONS)),
) -> Response:
    status = status if status in STATUS_FILTERS else ""
    problem = problem if problem in PROBLEMS else ""
    with unit_of_work(db_engine(request)) as uow:
        rows, pager = list_sessions(
            db=uow.db,
            tenant_id=user.tenant_id,
            status=status or None,
            problem=problem or None,
            host_person_id=_only_own(user),
            query=q or None,
            page=page,
        )
    return render(
        request,
        "admin/sessions/list.html",
        {
            "rows": rows,
            "page": pager,
            "filters": {"status": status, "problem": problem, "q": q},
            "status_choices": STATUS_FILTERS,
            "problem_choices": PROBLEMS,
            "room_names": names_for(
                request.app.state.settings,
                db_engine(request),
                user.tenant_id,
                [(r.binding.room_email, r.binding.room_name) for r in rows if r.binding is not None],
            ),
        },
    )


def load_visible_detail(request: Request, user: CurrentUser, session_id: str) -> SessionDetail:
    """The session's detail if it is in the user's tenant (else 404) and theirs to see (else 403)."""
    sid = parse_uuid(session_id)
    with unit_of_work(db_engine(request)) as uow:
        detail = session_detail(db=uow.db, tenant_id=user.tenant_id, session_id=sid)
    if detail is None:
        raise NotFound("session")
    own = _only_own(user)
    if own is not None and own not in {h.person.id for h in detail.hosts}:
        raise PermissionDenied("Organizers can open only the sessions they host.")
    return detail


def _when(text: str) -> datetime | None:
    """A series date as stored (``YYYY-MM-DDTHH:MM:SSZ``), or None for an all-day date."""
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


@router.get("/sessions/{session_id}")
def session_page(
    request: Request, session_id: str, user: CurrentUser = Depends(require(Need.READ_SESSIONS))
) -> Response:
    detail = load_visible_detail(request, user, session_id)
    room_exceptions = [
        {**d, "when": _when(str(d["original_start"]))}
        for d in ((detail.binding.blocked_detail or {}).get("room_exceptions") or [] if detail.binding else [])
        if isinstance(d, dict) and d.get("original_start")
    ]
    return render(
        request,
        "admin/sessions/detail.html",
        {
            "detail": detail,
            "session": detail.session,
            "binding": detail.binding,
            "can_write": user.can_write_sessions,
            "room_exceptions": room_exceptions,
            "room_names": names_for(
                request.app.state.settings,
                db_engine(request),
                user.tenant_id,
                [
                    (detail.session.room_email, None),
                    (detail.binding.room_email, detail.binding.room_name) if detail.binding else (None, None),
                    *((d.get("room_email"), d.get("room_name")) for d in room_exceptions),
                ],
            ),
        },
    )


@router.post("/sessions/{session_id}/resync")
def resync(
    request: Request,
    session_id: str,
    user: CurrentUser = Depends(require(Need.WRITE_SESSIONS)),
    _form: FormData = Depends(csrf_form),
) -> Response:
    detail = load_visible_detail(request, user, session_id)
    with unit_of_work(db_engine(request)) as uow:
        record_audit(
            db=uow.db,
            tenant_id=user.tenant_id,
            actor=user.actor,
            action="admin.resync",
            session_id=detail.session.id,
            subject=detail.session.external_id,
        )
        how = request_resync(uow, detail.session.id)
    flash(request, f"Resync of “{detail.session.title}” queued ({how}).")
    return redirect(f"/admin/sessions/{detail.session.id}")
