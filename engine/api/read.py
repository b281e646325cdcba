"""Read side of the ingest REST API: sessions with their hosts, counts and sync status.

Where it sits: the GET routes in :mod:`engine.api.routes` call these with the request's ``db`` session;
each loads what a page of sessions needs in a fixed number of queries (no per-row queries) and returns
the ``*Public`` models of :mod:`engine.api.schemas`. Read-only: nothing here writes.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Mapping, Sequence

from sqlalchemy import func
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from engine.api.schemas import (
    AnswerCounts,
    EnrollmentPublic,
    HostPublic,
    RoomExceptionPublic,
    RoomNeed,
    SessionPublic,
    SyncPublic,
    response_of,
)
from engine.ingest.common import Roster
from engine.ingest.enrollments import counts
from engine.store.models import (
    CalendarBinding,
    Enrollment,
    EnrollmentStatus,
    HostRole,
    LiveSession,
    Person,
    SessionHost,
    SessionStatus,
    SyncStatus,
    VideoChoice,
)


def _sync(binding: CalendarBinding | None, session: LiveSession) -> SyncPublic:
    if binding is None:
        return SyncPublic(status=SyncStatus.PENDING.value)
    status = binding.sync_status
    settled = status in (SyncStatus.SYNCED.value, SyncStatus.REMOVED.value)
    if settled and session.deleted_at is not None and status != SyncStatus.REMOVED.value:
        status = SyncStatus.PENDING.value  # removed here, event not yet deleted in Google
    elif (
        settled
        and session.deleted_at is None
        and binding.synced_revision is not None
        and binding.synced_revision < session.revision
    ):
        status = SyncStatus.PENDING.value  # a newer revision is waiting for the worker
    return SyncPublic(
        status=status,
        calendar_id=binding.calendar_id,
        event_id=binding.event_id,
        owner_email=binding.owner_email,
        meet_link=binding.meet_link,
        meet_status=binding.meet_status,
        meet_error=binding.meet_error,
        room_email=binding.room_email,
        room_name=binding.room_name,
        room_status=binding.room_status,
        room_error=binding.room_error,
        room_exceptions=_room_exceptions(binding),
        error_class=binding.error_class,
        last_error=binding.last_error,
        attempts=binding.attempts,
        synced_revision=binding.synced_revision,
        last_synced_at=binding.last_synced_at,
        next_attempt_at=binding.next_attempt_at,
        transfer_note=binding.transfer_note,
    )


def _room_exceptions(binding: CalendarBinding) -> list[RoomExceptionPublic]:
    """Per-date rooms of a series as stored by ``engine.delegation.room_exceptions`` (malformed entries skipped)."""
    out = []
    for item in (binding.blocked_detail or {}).get("room_exceptions") or []:
        if isinstance(item, dict) and item.get("original_start"):
            out.append(
                RoomExceptionPublic(
                    original_start=str(item["original_start"]),
                    room_email=item.get("room_email") or None,
                    room_name=item.get("room_name") or None,
                    room_status=str(item.get("status") or "none"),
                    reason=str(item.get("reason") or ""),
                )
            )
    return out


def _room(session: LiveSession) -> RoomNeed | None:
    if not session.room_wanted:
        return None
    return RoomNeed(
        building=session.room_building,
        min_capacity=session.room_min_capacity,
        features=list(session.room_features),
        email=session.room_email,
    )


def to_public(
    *, db: Session, sessions: Sequence[LiveSession], rosters: Mapping[uuid.UUID, Roster] | None = None
) -> list[SessionPublic]:
    """The public view of ``sessions`` (in the given order), loaded in four queries; none for a session
    whose :class:`~engine.ingest.common.Roster` the write that created it hands over in ``rosters``."""
    rosters = rosters or {}
    ids = [s.id for s in sessions if s.id not in rosters]
    hosts: dict[uuid.UUID, list[HostPublic]] = defaultdict(list)
    bindings: dict[uuid.UUID, CalendarBinding] = {}
    tallies: dict[uuid.UUID, tuple[int, int]] = {}
    answers: dict[uuid.UUID, AnswerCounts] = {}
    for sid, roster in rosters.items():  # nobody has answered yet
        hosts[sid] = [HostPublic(email=email, role=HostRole(role), response=None) for email, role in roster.hosts]
        tallies[sid] = (roster.enrolled, roster.waitlisted)
        answers[sid] = AnswerCounts(not_seen=roster.enrolled) if roster.enrolled else AnswerCounts()
    if ids:
        for host, email in db.exec(
            select(SessionHost, Person.email)
            .join(Person, col(Person.id) == col(SessionHost.person_id))
            .where(col(SessionHost.session_id).in_(ids))
            .order_by(col(SessionHost.position))
        ).all():
            hosts[host.session_id].append(
                HostPublic(
                    email=email,
                    role=HostRole(host.role),
                    response=response_of(host.response_status, host.response_comment, host.responded_at),
                )
            )
        bindings = {
            b.session_id: b
            for b in db.exec(select(CalendarBinding).where(col(CalendarBinding.session_id).in_(ids)))
        }
        tallies.update(counts(db=db, session_ids=ids))
        answers.update(_answer_counts(db, ids))
    return [
        SessionPublic(
            id=s.id,
            external_id=s.external_id,
            title=s.title,
            description=s.description,
            time_zone=s.time_zone,
            start=s.start_at,
            end=s.end_at,
            recurrence=s.recurrence.split("\n") if s.recurrence else None,
            location=s.location,
            status=SessionStatus(s.status),
            video=VideoChoice(s.video),
            manual_join_link=s.manual_join_link,
            url=s.platform_url,
            capacity=s.capacity,
            room=_room(s),
            hosts=hosts.get(s.id, []),
            enrolled_count=tallies[s.id][0],
            waitlisted_count=tallies[s.id][1],
            answers=answers.get(s.id) or AnswerCounts(),
            revision=s.revision,
            created_at=s.created_at,
            updated_at=s.updated_at,
            deleted_at=s.deleted_at,
            sync=_sync(bindings.get(s.id), s),
        )
        for s in sessions
    ]


_COUNT_FIELD = {"accepted": "accepted", "tentative": "tentative", "declined": "declined", "needsAction": "needs_action"}


def _answer_counts(db: Session, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, AnswerCounts]:
    """Enrolled learners per session and answer (one grouped query)."""
    tallies: dict[uuid.UUID, dict[str, int]] = defaultdict(dict)
    for session_id, status, n in db.exec(
        select(Enrollment.session_id, Enrollment.response_status, func.count())
        .where(col(Enrollment.session_id).in_(list(ids)), Enrollment.status == EnrollmentStatus.ENROLLED.value)
        .group_by(col(Enrollment.session_id), col(Enrollment.response_status))
    ).all():
        key = _COUNT_FIELD.get(str(status), "not_seen")
        tallies[session_id][key] = tallies[session_id].get(key, 0) + int(n)
    return {sid: AnswerCounts(**values) for sid, values in tallies.items()}


def list_sessions(
    *,
    db: Session,
    tenant_id: uuid.UUID,
    limit: int,
    offset: int,
    include_deleted: bool,
    status: SessionStatus | None,
    sync_status: SyncStatus | None,
) -> tuple[list[LiveSession], int]:
    """A page of the tenant's sessions by start time, and the total matching."""
    query = select(LiveSession).where(LiveSession.tenant_id == tenant_id)
    if not include_deleted:
        query = query.where(col(LiveSession.deleted_at).is_(None))
    if status is not None:
        query = query.where(LiveSession.status == status.value)
    if sync_status is not None:
        query = query.outerjoin(CalendarBinding, col(CalendarBinding.session_id) == col(LiveSession.id))
        if sync_status == SyncStatus.PENDING:
            query = query.where(
                (col(CalendarBinding.id).is_(None)) | (col(CalendarBinding.sync_status) == sync_status.value)
            )
        else:
            query = query.where(col(CalendarBinding.sync_status) == sync_status.value)
    total = db.exec(select(func.count()).select_from(query.subquery())).one()
    rows = db.exec(
        query.order_by(col(LiveSession.start_at), col(LiveSession.external_id)).limit(limit).offset(offset)
    ).all()
    return list(rows), int(total)


def list_enrollments(
    *, db: Session, session: LiveSession, include_cancelled: bool = False
) -> list[EnrollmentPublic]:
    """The session's learners by email (one query of the columns the answer shows, no model loaded per row)."""
    query = (
        sa_select(
            col(Person.email),
            col(Person.display_name),
            col(Enrollment.status),
            col(Enrollment.updated_at),
            col(Enrollment.response_status),
            col(Enrollment.response_comment),
            col(Enrollment.responded_at),
        )
        .join(Person, col(Person.id) == col(Enrollment.person_id))
        .where(col(Enrollment.session_id) == session.id)
    )
    if not include_cancelled:
        query = query.where(col(Enrollment.status) != EnrollmentStatus.CANCELLED.value)
    return [
        EnrollmentPublic(
            email=email,
            status=EnrollmentStatus(status),
            display_name=display_name,
            updated_at=updated_at,
            response=response_of(response_status, response_comment, responded_at),
        )
        for email, display_name, status, updated_at, response_status, response_comment, responded_at in db.execute(
            query.order_by(col(Person.email))
        ).all()
    ]
