"""Organizer lifecycle routes: departures, transfer previews and the single-point-of-failure report.

Where it sits: beside the other route modules of the ingest REST API, with the same steps (validate,
write through :mod:`engine.lifecycle.departure`, commit, then hand work to the background). Semantics:

* ``PUT /v1/people/{email}/departure`` with ``{"leavingOn": "2027-01-15"}`` (or ``{}`` / ``null`` for
  "leaving now"): the platform says this person is leaving. Idempotent. 404 for a person Muster does not
  know, 422 for a date in the past, 409 when the account is already suspended or deleted. The transfer
  of their events runs from one day before ``leavingOn`` (at once without a date); see
  ``docs/organizer-lifecycle.md``.
* ``DELETE /v1/people/{email}/departure``: withdraw it (204; 404 when none was announced). Events
  already transferred stay with their new owner.
* ``GET /v1/people/{email}/transfer-preview``: who would inherit which upcoming session, and how.
* ``GET /v1/reports/spof``: the tenant's sessions that hang on one leaving or suspended organizer.

A stored successor setting the schema refuses makes the preview and the report answer 409 with the
``config_error`` line naming the setting and the fix (never an answer computed under guessed defaults).
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Body, Path, Response, status
from pydantic import AfterValidator

from engine.api.deps import Caller, Uow
from engine.api.schemas import EMAIL_PATTERN, ApiModel, normalize_email
from engine.errors import TenantSettingInvalid
from engine.ingest.common import Conflict, IngestError, NotFound
from engine.lifecycle import dispatch
from engine.lifecycle.departure import (
    DepartureError,
    announce_departure,
    cancel_departure,
    earliest_today,
    view,
)
from engine.lifecycle.preview import transfer_preview
from engine.lifecycle.spof import spof_report
from engine.store.types import utcnow

router = APIRouter(tags=["organizer lifecycle"])

EmailPath = Annotated[
    str,
    Path(
        max_length=320,
        description="The person's email (case-insensitive).",
        json_schema_extra={"format": "email", "pattern": EMAIL_PATTERN},
    ),
    AfterValidator(normalize_email),
]


class DepartureCreate(ApiModel):
    """The announced last day (a UTC date), or nothing for "leaving now"."""

    leaving_on: date | None = None


class DeparturePublic(ApiModel):
    email: str
    status: str
    leaving_on: date | None
    transfer_due: bool


def _raise(exc: DepartureError) -> None:
    loc = ["path", "email"] if exc.field == "email" else ["body", exc.field]
    if exc.status_code == 404:
        raise NotFound(exc.message, loc=loc) from exc
    if exc.status_code == 409:
        raise Conflict(exc.message, loc=loc) from exc
    raise IngestError(exc.message, loc=loc) from exc


@router.put(
    "/v1/people/{email}/departure",
    response_model=DeparturePublic,
    summary="Announce that a person is leaving (optionally on a given day)",
)
def put_departure(
    email: EmailPath, uow: Uow, caller: Caller, body: Annotated[DepartureCreate | None, Body()] = None
) -> DeparturePublic:
    now = utcnow()
    try:
        person, _changed = announce_departure(
            db=uow.db,
            tenant_id=caller.tenant.id,
            email=email,
            leaving_on=body.leaving_on if body else None,
            actor=caller.actor,
            today=earliest_today(now),
        )
    except DepartureError as exc:
        _raise(exc)
        raise  # unreachable; keeps type checkers certain
    shown = view(person, now.date())
    uow.commit()
    if shown.transfer_due:
        dispatch.request_transfer(caller.tenant.id, person.id)
    return DeparturePublic(
        email=shown.email, status=shown.status, leaving_on=shown.leaving_on, transfer_due=shown.transfer_due
    )


@router.delete(
    "/v1/people/{email}/departure",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    summary="Withdraw an announced departure",
)
def delete_departure(email: EmailPath, uow: Uow, caller: Caller) -> Response:
    try:
        cancel_departure(db=uow.db, tenant_id=caller.tenant.id, email=email, actor=caller.actor)
    except DepartureError as exc:
        _raise(exc)
    uow.commit()
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get(
    "/v1/people/{email}/transfer-preview",
    summary="Who would inherit this person's upcoming sessions, and how",
)
def get_transfer_preview(email: EmailPath, uow: Uow, caller: Caller) -> dict[str, Any]:
    try:
        preview = transfer_preview(db=uow.db, tenant=caller.tenant, email=email, now=utcnow())
    except TenantSettingInvalid as exc:
        raise Conflict(str(exc), loc=["settings", exc.error.field]) from None
    if preview is None:
        raise NotFound(f"no person {email!r} in this tenant", loc=["path", "email"])
    return {
        "email": preview.email,
        "status": preview.status,
        "leavingOn": preview.leaving_on.isoformat() if preview.leaving_on else None,
        "transferDue": preview.transfer_due,
        "sessions": [
            {
                "externalId": i.external_id,
                "title": i.title,
                "startAt": i.start_at.isoformat(),
                "outcome": i.decision.outcome.value,
                "successor": i.decision.successor_email,
                "path": i.path,
                "reason": i.decision.reason,
                "needed": i.decision.needed,
            }
            for i in preview.items
        ],
        "blocked": len(preview.blocked),
    }


@router.get(
    "/v1/reports/spof", summary="Upcoming sessions whose only connected organizer is leaving or suspended"
)
def get_spof(uow: Uow, caller: Caller) -> dict[str, Any]:
    try:
        rows = spof_report(db=uow.db, now=utcnow(), tenant_id=caller.tenant.id)
    except TenantSettingInvalid as exc:
        raise Conflict(str(exc), loc=["settings", exc.error.field]) from None
    return {"sessions": [r.as_json() for r in rows], "count": len(rows)}
