"""Create and edit a session (organizers and admins).

Where it sits: parses the form with :mod:`admin_ui.services.session_form`, then saves through
:func:`engine.ingest.sessions.upsert_session`, the data function behind ``PUT /v1/sessions/{id}``, inside one
unit of work; the session is enqueued for sync only after the commit. A validation error re-renders the
form with a message per field (status 400), never a 500. A session the learning platform wrote through the
REST API (``platform_owned``) is shown read-only, and a post to it saves nothing (409): the platform's next
``PUT`` would replace every field, so an edit made here would be lost silently. In delegation mode an
organizer without a working Google connection is sent to connect first, since their events cannot be
written without it.
"""

from __future__ import annotations

import secrets
import uuid
from typing import Any

from fastapi import APIRouter, Depends, Request
from sqlmodel import Session
from starlette.datastructures import FormData
from starlette.responses import Response

from admin_ui.auth import CurrentUser, PermissionDenied, csrf_form, db_engine, require
from admin_ui.services.room_picker import room_options
from admin_ui.services.session_form import FREQUENCIES, initial_from_session, parse_form, zone_choices
from admin_ui.templating import flash, redirect, render
from admin_ui.views.sessions import load_visible_detail
from engine.admin.queries import connections_by_person, people_with_role
from engine.admin.roles import Need
from engine.ingest.common import IngestError
from engine.ingest.sessions import find_session, upsert_session
from engine.store.models import ConnectionStatus, IntegrationMode, Role, SessionStatus, Tenant, VideoChoice
from engine.store.unit_of_work import unit_of_work

router = APIRouter()

#: Why a platform-owned session's fields cannot be saved here.
PLATFORM_OWNED = (
    "the learning platform owns this session: its next update replaces these fields, so nothing is saved "
    "here; change the session in the platform"
)

VIDEO_CHOICES = {
    VideoChoice.MEET.value: "Google Meet link (created by Google)",
    VideoChoice.MANUAL.value: "A link I paste (Zoom, Teams, …)",
    VideoChoice.NONE.value: "No video",
}


def _needs_google(db: Session, user: CurrentUser, tenant: Tenant) -> bool:
    """An organizer (not an admin) in delegation mode without a connected Google account."""
    if tenant.integration_mode != IntegrationMode.DELEGATION.value or user.is_admin:
        return False
    conn = connections_by_person(db=db, tenant_id=user.tenant_id, person_ids=[user.person_id]).get(user.person_id)
    return conn is None or conn.status != ConnectionStatus.CONNECTED.value


def _context(
    request: Request,
    user: CurrentUser,
    *,
    values: dict[str, str],
    errors: dict[str, str],
    editing: uuid.UUID | None,
    search_rooms: bool = False,
    platform_owned: bool = False,
) -> dict[str, Any]:
    with unit_of_work(db_engine(request)) as uow:
        tenant = uow.db.get(Tenant, user.tenant_id)
        assert tenant is not None
        organizers = [p.email for p in people_with_role(db=uow.db, tenant_id=user.tenant_id, role=Role.ORGANIZER.value)]
        needs_google = _needs_google(uow.db, user, tenant)
        mode = tenant.integration_mode
    rooms = room_options(
        request.app.state.settings,
        db_engine(request),
        user.tenant_id,
        user.person_id,
        values,
        search=search_rooms,
    )
    return {
        "values": values,
        "errors": errors,
        "editing": editing,
        "organizers": organizers,
        "organizer_locked": not user.is_admin,
        "zones": zone_choices(),
        "frequencies": FREQUENCIES,
        "video_choices": VIDEO_CHOICES,
        "status_choices": [s.value for s in SessionStatus],
        "needs_google": needs_google,
        "mode": mode,
        "rooms": rooms,
        "meet_available": mode == IntegrationMode.DELEGATION.value,
        "platform_owned": platform_owned,
    }


def _defaults(user: CurrentUser) -> dict[str, str]:
    return {
        "external_id": "",
        "time_zone": "UTC",
        "freq": "none",
        "video": VideoChoice.NONE.value,
        "organizer": "" if user.is_admin else user.email,
        "status": SessionStatus.SCHEDULED.value,
    }


@router.get("/sessions/new")
def new_session(request: Request, user: CurrentUser = Depends(require(Need.WRITE_SESSIONS))) -> Response:
    return render(
        request,
        "admin/sessions/edit.html",
        _context(request, user, values=_defaults(user), errors={}, editing=None),
    )


@router.get("/sessions/{session_id}/edit")
def edit_session(
    request: Request, session_id: str, user: CurrentUser = Depends(require(Need.WRITE_SESSIONS))
) -> Response:
    detail = load_visible_detail(request, user, session_id)
    if detail.session.deleted_at is not None:
        raise PermissionDenied("This session was removed by the platform; it can no longer be edited here.")
    values = initial_from_session(detail.session, [(h.person.email, h.role) for h in detail.hosts])
    return render(
        request,
        "admin/sessions/edit.html",
        _context(
            request, user, values=values, errors={}, editing=detail.session.id,
            platform_owned=detail.session.platform_owned,
        ),
    )


def _save(
    request: Request,
    user: CurrentUser,
    form: FormData,
    editing: uuid.UUID | None,
    external_id: str | None,
    locked_organizer: str | None,
) -> Response:
    raw = {k: str(v) for k, v in form.items() if isinstance(v, str) and k != "csrf_token"}
    if editing is None and not user.is_admin and _blocked_by_google(request, user):
        return render(
            request,
            "admin/sessions/edit.html",
            _context(request, user, values=raw, errors={}, editing=None),
            status_code=409,
        )
    if "find_rooms" in raw:  # "Show free rooms": re-render with the picker filled, save nothing
        if not user.is_admin:
            raw["organizer"] = locked_organizer or user.email
        return render(
            request,
            "admin/sessions/edit.html",
            _context(request, user, values=raw, errors={}, editing=editing, search_rooms=True),
        )
    parsed = parse_form(raw, organizer_locked=None if user.is_admin else locked_organizer)
    if editing is None:
        external_id = parsed.values.get("external_id") or f"ui-{secrets.token_hex(6)}"
        parsed.values["external_id"] = external_id
    assert external_id is not None
    if parsed.data is None:
        return render(
            request,
            "admin/sessions/edit.html",
            _context(request, user, values=parsed.values, errors=parsed.errors, editing=editing),
            status_code=400,
        )
    try:
        with unit_of_work(db_engine(request)) as uow:
            taken = find_session(db=uow.db, tenant_id=user.tenant_id, external_id=external_id)
            if editing is None and taken is not None:
                raise IngestError(
                    f"a session with external id {external_id!r} exists already; "
                    "choose another id or edit that session",
                    loc=("body", "externalId"),
                )
            result = upsert_session(
                db=uow.db,
                tenant_id=user.tenant_id,
                external_id=external_id,
                data=parsed.data,
                actor=user.actor,
            )
            if result.changed:
                uow.enqueue_session(result.session.id)
            saved_id, created, changed = result.session.id, result.created, result.changed
    except IngestError as exc:
        loc = [str(p) for p in exc.loc]
        name = {"externalId": "external_id", "coHosts": "co_hosts", "enrollments": "capacity"}.get(
            loc[-1] if loc else "", "form"
        )
        return render(
            request,
            "admin/sessions/edit.html",
            _context(request, user, values=parsed.values, errors={name: exc.message}, editing=editing),
            status_code=400,
        )
    if created:
        flash(request, "Session created; it syncs to Google in a moment.")
    elif changed:
        flash(request, "Session saved; the change syncs to Google in a moment.")
    else:
        flash(request, "Nothing changed.", "info")
    return redirect(f"/admin/sessions/{saved_id}")


def _blocked_by_google(request: Request, user: CurrentUser) -> bool:
    with unit_of_work(db_engine(request)) as uow:
        tenant = uow.db.get(Tenant, user.tenant_id)
        assert tenant is not None
        return _needs_google(uow.db, user, tenant)


@router.post("/sessions/new")
def create_session(
    request: Request,
    user: CurrentUser = Depends(require(Need.WRITE_SESSIONS)),
    form: FormData = Depends(csrf_form),
) -> Response:
    return _save(request, user, form, None, None, user.email)


@router.post("/sessions/{session_id}/edit")
def update_session(
    request: Request,
    session_id: str,
    user: CurrentUser = Depends(require(Need.WRITE_SESSIONS)),
    form: FormData = Depends(csrf_form),
) -> Response:
    detail = load_visible_detail(request, user, session_id)
    if detail.session.deleted_at is not None:
        raise PermissionDenied("This session was removed by the platform; it can no longer be edited here.")
    if detail.session.platform_owned:
        # The platform's next PUT replaces every field of this form: an edit here would be lost silently.
        values = initial_from_session(detail.session, [(h.person.email, h.role) for h in detail.hosts])
        return render(
            request,
            "admin/sessions/edit.html",
            _context(
                request, user, values=values, editing=detail.session.id, platform_owned=True,
                errors={"form": PLATFORM_OWNED},
            ),
            status_code=409,
        )
    organizer = next((h.person.email for h in detail.hosts if h.role == "organizer"), user.email)
    return _save(request, user, form, detail.session.id, detail.session.external_id, organizer)
