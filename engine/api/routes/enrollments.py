"""Enrollment routes of the ingest REST API: one learner at a time, or many at once.

Where it sits: beside :mod:`engine.api.routes.sessions`, with the same steps (validate, write through
:mod:`engine.ingest.enrollments`, enqueue the session when something changed, commit). Semantics:

* ``PUT /v1/sessions/{id}/enrollments/{email}``: enroll or waitlist one learner (body optional;
  default ``enrolled``). Idempotent. 201 when the learner was not listed before.
* ``DELETE /v1/sessions/{id}/enrollments/{email}``: cancel that enrollment (204; 404 if never enrolled).
* ``PUT /v1/sessions/{id}/enrollments``: the list *is* the session's learners; anyone not in it is
  cancelled. Idempotent.
* ``PATCH /v1/sessions/{id}/enrollments``: merge the list (upsert each; ``status: cancelled`` removes
  one); others are untouched.

Each request is all-or-nothing (:func:`engine.api.transaction.write`; the answer is built before the
commit), the session's row is locked for the write, and the attendee cap
(:data:`engine.api.schemas.MAX_ATTENDEES`) is checked on the result, so concurrent enrollments cannot
together pass it.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Path, Query, Response, status
from pydantic import AfterValidator

from engine.api.deps import Caller, Uow
from engine.api.read import list_enrollments
from engine.api.routes.sessions import ExternalId
from engine.api.schemas import (
    EMAIL_PATTERN,
    EnrollmentBase,
    EnrollmentBulkCreate,
    EnrollmentBulkPublic,
    EnrollmentCreate,
    EnrollmentPublic,
    normalize_email,
    response_of,
)
from engine.api.transaction import write
from engine.ingest import enrollments, sessions
from engine.store.models import EnrollmentStatus, LiveSession

router = APIRouter(prefix="/v1/sessions/{external_id}/enrollments", tags=["enrollments"])

EmailPath = Annotated[
    str,
    Path(
        max_length=320,
        description="The learner's email (case-insensitive).",
        json_schema_extra={"format": "email", "pattern": EMAIL_PATTERN},
    ),
    AfterValidator(normalize_email),
]


@router.get("", response_model=list[EnrollmentPublic], summary="List a session's learners")
def get_enrollments(
    external_id: ExternalId,
    uow: Uow,
    caller: Caller,
    include_cancelled: Annotated[bool, Query(alias="includeCancelled")] = False,
) -> list[EnrollmentPublic]:
    session = sessions.get_session_or_404(db=uow.db, tenant_id=caller.tenant.id, external_id=external_id)
    return list_enrollments(db=uow.db, session=session, include_cancelled=include_cancelled)


def _bulk(
    external_id: str, body: EnrollmentBulkCreate, uow: Uow, caller: Caller, replace: bool
) -> EnrollmentBulkPublic:

    def work() -> EnrollmentBulkPublic:
        session = sessions.get_session_or_404(
            db=uow.db, tenant_id=caller.tenant.id, external_id=external_id, writable=True
        )
        changed = enrollments.set_enrollments(
            db=uow.db, session=session, items=body.enrollments, replace=replace, actor=caller.actor
        )
        if changed:
            uow.enqueue_session(session.id)
        return _summary(uow, session, changed)

    return write(uow, work)


def _summary(uow: Uow, session: LiveSession, changed: int) -> EnrollmentBulkPublic:
    """The answer of a bulk write: the learners as they are now, and their counts (taken from that list)."""
    listed = list_enrollments(db=uow.db, session=session)
    return EnrollmentBulkPublic(
        external_id=session.external_id,
        changed=changed,
        enrolled_count=sum(1 for e in listed if e.status == EnrollmentStatus.ENROLLED),
        waitlisted_count=sum(1 for e in listed if e.status == EnrollmentStatus.WAITLISTED),
        enrollments=listed,
    )


@router.put("", response_model=EnrollmentBulkPublic, summary="Replace a session's learners")
def replace_enrollments(
    external_id: ExternalId, body: EnrollmentBulkCreate, uow: Uow, caller: Caller
) -> EnrollmentBulkPublic:
    """Make ``enrollments`` the complete list; learners not in it are cancelled."""
    return _bulk(external_id, body, uow, caller, replace=True)


@router.patch("", response_model=EnrollmentBulkPublic, summary="Merge learners into a session")
def merge_enrollments(
    external_id: ExternalId, body: EnrollmentBulkCreate, uow: Uow, caller: Caller
) -> EnrollmentBulkPublic:
    """Upsert each listed learner; others are left as they are."""
    return _bulk(external_id, body, uow, caller, replace=False)


@router.put(
    "/{email}",
    response_model=EnrollmentPublic,
    responses={201: {"model": EnrollmentPublic}},
    summary="Enroll or waitlist one learner",
)
def put_enrollment(
    external_id: ExternalId,
    email: EmailPath,
    uow: Uow,
    caller: Caller,
    response: Response,
    body: Annotated[EnrollmentBase | None, Body()] = None,
) -> EnrollmentPublic:
    base = body or EnrollmentBase()
    item = EnrollmentCreate(email=email, status=base.status, display_name=base.display_name)

    def work() -> tuple[bool, EnrollmentPublic]:
        session = sessions.get_session_or_404(
            db=uow.db, tenant_id=caller.tenant.id, external_id=external_id, writable=True
        )
        done = enrollments.put_enrollment(db=uow.db, session=session, item=item, actor=caller.actor)
        if done.changed:
            uow.enqueue_session(session.id)
        public = EnrollmentPublic(
            email=done.person.email,
            status=EnrollmentStatus(done.enrollment.status),
            display_name=done.person.display_name,
            updated_at=done.enrollment.updated_at,
            response=response_of(
                done.enrollment.response_status, done.enrollment.response_comment, done.enrollment.responded_at
            ),
        )
        return done.existed, public

    existed, public = write(uow, work)
    response.status_code = status.HTTP_200_OK if existed else status.HTTP_201_CREATED
    return public


@router.delete(
    "/{email}",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    summary="Cancel one learner's enrollment",
)
def delete_enrollment(external_id: ExternalId, email: EmailPath, uow: Uow, caller: Caller) -> Response:

    def work() -> None:
        session = sessions.get_session_or_404(
            db=uow.db, tenant_id=caller.tenant.id, external_id=external_id, writable=True
        )
        if enrollments.cancel_enrollment(db=uow.db, session=session, email=email, actor=caller.actor):
            uow.enqueue_session(session.id)

    write(uow, work)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
