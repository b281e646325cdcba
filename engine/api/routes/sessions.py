"""Session routes of the ingest REST API: upsert, read, list, cancel/reopen, remove.

Where it sits: below :func:`engine.api.app.create_api`, above :mod:`engine.ingest.sessions` (writes) and
:mod:`engine.api.read` (reads). Every write route follows the same four steps: validate (FastAPI, with
:mod:`engine.api.schemas`), write through the data functions, ``uow.enqueue_session`` when something
changed, and :func:`engine.api.transaction.write` commits (the id goes to the sync engine only after the
commit succeeded). The answer is built inside the transaction, so a request is all-or-nothing, and a write
that lost a race with a concurrent one runs again from its first read.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Path, Query, Response, status

from engine.api.deps import Caller, Uow
from engine.api.read import list_sessions, to_public
from engine.api.schemas import SessionCreate, SessionList, SessionPublic, StatusUpdate
from engine.api.transaction import write
from engine.ingest import sessions
from engine.store.models import LiveSession, SessionStatus, SyncStatus

router = APIRouter(prefix="/v1/sessions", tags=["sessions"])

ExternalId = Annotated[
    str,
    Path(
        min_length=1,
        max_length=200,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._:@~+\-]*$",
        description="The platform's id for the session (letters, digits, . _ : @ ~ + -).",
    ),
]


def _public(uow: Uow, session: LiveSession) -> SessionPublic:
    return to_public(db=uow.db, sessions=[session])[0]


@router.put(
    "/{external_id}",
    response_model=SessionPublic,
    responses={201: {"model": SessionPublic}},
    summary="Create or replace a session (idempotent)",
)
def put_session(
    external_id: ExternalId, body: SessionCreate, uow: Uow, caller: Caller, response: Response
) -> SessionPublic:
    """Create the session, or replace every field of an existing one (a removed one is restored).

    Hosts are replaced by ``organizer`` + ``coHosts`` + ``presenters``. ``enrollments``, when present, is
    the complete learner list (learners left out are cancelled); when absent, enrollments are kept.
    Sending the same body twice changes nothing and triggers no sync, unless the last sync left an error,
    a missing Meet link or room: then the save retries it. Answers 201 when created.
    """

    def work() -> tuple[bool, SessionPublic]:
        result = sessions.upsert_session(
            db=uow.db,
            tenant_id=caller.tenant.id,
            external_id=external_id,
            data=body,
            actor=caller.actor,
            platform=True,
        )
        if result.changed or sessions.sync_needs_retry(db=uow.db, session=result.session):
            uow.enqueue_session(result.session.id)
        if result.roster is not None:  # created: answered from what was written
            return True, to_public(db=uow.db, sessions=[result.session], rosters={result.session.id: result.roster})[0]
        return result.created, _public(uow, result.session)

    created, public = write(uow, work)
    response.status_code = status.HTTP_201_CREATED if created else status.HTTP_200_OK
    return public


@router.get("", response_model=SessionList, summary="List sessions with their sync status")
def get_sessions(
    uow: Uow,
    caller: Caller,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=1_000_000_000)] = 0,
    include_deleted: Annotated[bool, Query(alias="includeDeleted")] = False,
    session_status: Annotated[SessionStatus | None, Query(alias="status")] = None,
    sync_status: Annotated[SyncStatus | None, Query(alias="syncStatus")] = None,
) -> SessionList:
    """The tenant's sessions by start time, filtered by session or sync status."""
    rows, total = list_sessions(
        db=uow.db,
        tenant_id=caller.tenant.id,
        limit=limit,
        offset=offset,
        include_deleted=include_deleted,
        status=session_status,
        sync_status=sync_status,
    )
    return SessionList(items=to_public(db=uow.db, sessions=rows), total=total, limit=limit, offset=offset)


@router.get("/{external_id}", response_model=SessionPublic, summary="Get a session and its sync status")
def get_session(external_id: ExternalId, uow: Uow, caller: Caller) -> SessionPublic:
    """The session (removed ones too, with ``deletedAt``) and its binding: event, Meet link, room, errors."""
    session = sessions.get_session_or_404(db=uow.db, tenant_id=caller.tenant.id, external_id=external_id)
    return _public(uow, session)


@router.delete(
    "/{external_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    summary="Remove a session (its Google event is deleted)",
)
def delete_session(external_id: ExternalId, uow: Uow, caller: Caller) -> Response:
    """Mark the session removed; the sync engine deletes its event. Repeating it is harmless."""

    def work() -> None:
        session = sessions.get_session_or_404(
            db=uow.db, tenant_id=caller.tenant.id, external_id=external_id, lock=True
        )
        if sessions.mark_deleted(db=uow.db, session=session, actor=caller.actor):
            uow.enqueue_session(session.id)

    write(uow, work)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


def _set_status(
    external_id: str, uow: Uow, caller: Caller, new: SessionStatus, body: StatusUpdate | None
) -> SessionPublic:

    def work() -> SessionPublic:
        session = sessions.get_session_or_404(
            db=uow.db, tenant_id=caller.tenant.id, external_id=external_id, writable=True
        )
        if sessions.set_status(
            db=uow.db, session=session, status=new, actor=caller.actor, reason=body.reason if body else None
        ):
            uow.enqueue_session(session.id)
        return _public(uow, session)

    return write(uow, work)


@router.post("/{external_id}/cancel", response_model=SessionPublic, summary="Cancel a session")
def cancel_session(
    external_id: ExternalId, uow: Uow, caller: Caller, body: Annotated[StatusUpdate | None, Body()] = None
) -> SessionPublic:
    """Set the status to ``cancelled`` (the event is cancelled in Google, attendees notified per policy)."""
    return _set_status(external_id, uow, caller, SessionStatus.CANCELLED, body)


@router.post("/{external_id}/reopen", response_model=SessionPublic, summary="Reopen a cancelled session")
def reopen_session(
    external_id: ExternalId, uow: Uow, caller: Caller, body: Annotated[StatusUpdate | None, Body()] = None
) -> SessionPublic:
    """Set the status back to ``scheduled``."""
    return _set_status(external_id, uow, caller, SessionStatus.SCHEDULED, body)
