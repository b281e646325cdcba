"""Answers read back: each guest's response in Google, stored on the enrollment or host row, and what follows.

Where it sits: :meth:`engine.sync.reconciler.SessionReconciler.reconcile` calls :func:`do_record_answers`
in the unit of work that records a successful reconcile, with the event it observed or wrote (Google
returns every guest's ``responseStatus`` and ``comment`` on a read and on a write). The change feed only
has to get the session reconciled with a fresh look at its event (``engine.sync.remote_change``) and
the answers follow, level-triggered: what is stored is compared with what Google shows, so a repeated or
merged notification changes nothing twice.

For each learner (enrollment) and host whose answer or comment differs from what is stored:

* the row gets the new ``response_status``, ``response_comment`` and ``responded_at``; an
  ``answer.changed`` audit entry and an ``enrollment.response_changed`` webhook are written (not for the
  ``needsAction`` of a guest seen for the first time: being invited is not an answer);
* an enrolled learner's change to ``declined`` under the tenant's decline policy ``cancel_and_promote``
  (:func:`policies.answers.decide`) cancels the enrollment and enrolls the first waitlisted learner (by
  when they joined), on the session's locked row; the session's revision goes up and it is enqueued after
  the commit, so the next reconcile removes the one and invites the other. Both are audited
  (``enrollment.cancelled_by_decline``, ``enrollment.promoted``) and told to the platform by webhook.

Rooms (resource attendees) are not guests' answers: the room observer handles them. Data functions on
the caller's session; they never commit.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, update
from sqlmodel import Session, col, select

from connectors.ports.calendar import RemoteEvent
from engine.domain.desired import SessionFacts
from engine.store.models import (
    AuditEvent,
    Enrollment,
    EnrollmentStatus,
    LiveSession,
    Person,
    SessionHost,
)
from engine.store.types import utcnow
from engine.store.unit_of_work import UnitOfWork
from engine.webhooks import emit
from engine.webhooks.events import CancelledByDecline, Promoted, ResponseChanged
from policies.answers import RESPONSE_STATUSES, Action, AnswerChange, decide, next_waitlisted


@dataclass(frozen=True)
class Answer:
    status: str
    comment: str | None


def observed_answers(remote: RemoteEvent) -> dict[str, Answer]:
    """Each human guest's answer on ``remote`` (lower-cased email → answer). Pure."""
    out: dict[str, Answer] = {}
    for attendee in remote.spec.attendees:
        if attendee.resource or attendee.response_status not in RESPONSE_STATUSES:
            continue
        out[attendee.email.lower()] = Answer(str(attendee.response_status), attendee.comment or None)
    return out


def answers_recorded(
    remote: RemoteEvent | None,
    *,
    learners: Mapping[str, tuple[str | None, str | None]],
    hosts: Mapping[str, tuple[str | None, str | None]],
) -> bool:
    """Pure: whether :func:`do_record_answers` would find nothing to store, given the stored answers
    (lower-cased email -> (status, comment)) of the session's learners and hosts."""
    if remote is None or remote.is_cancelled:
        return True
    answers = observed_answers(remote)
    for rows in (learners, hosts):
        for email, stored in rows.items():
            seen = answers.get(email)
            if seen is not None and stored != (seen.status, seen.comment):
                return False
    return True


@dataclass(frozen=True)
class _Declined:
    row: Enrollment
    email: str
    comment: str | None
    previous: str | None


@dataclass
class AnswersReport:
    changed: int = 0
    cancelled: list[str] | None = None
    promoted: list[str] | None = None


#: The stored answers a reconcile loaded (:class:`engine.sync.load.Loaded`): learners', then hosts' (lower-cased
#: email -> (response status, comment)).
StoredAnswers = tuple[Mapping[str, tuple[str | None, str | None]], Mapping[str, tuple[str | None, str | None]]]


def do_record_answers(
    uow: UnitOfWork,
    *,
    facts: SessionFacts,
    remote: RemoteEvent | None,
    now: datetime | None = None,
    stored: StoredAnswers | None = None,
) -> AnswersReport:
    """Store what ``remote`` shows each learner and host answered; apply the decline policy (module doc).

    ``stored``: the answers as the reconcile loaded them (it holds the session's lease, so only it writes
    answers meanwhile). With them, nothing is read when no answer differs, and when the only differences
    are guests just invited (``needsAction``, no comment, nothing stored yet: nothing to tell, audit or
    decide) those are stored by one conditional update per table, without the session's row lock that
    an answer to act on takes."""
    report = AnswersReport()
    if remote is None or remote.is_cancelled:
        return report
    answers = observed_answers(remote)
    if not answers:
        return report
    db = uow.db
    now = now or utcnow()
    if stored is not None:
        differing = [
            {email: seen for email, before in rows.items()
             if (seen := answers.get(email)) is not None and before != (seen.status, seen.comment)}
            for rows in stored
        ]
        if not any(differing):
            return report
        if all(
            rows[email] == (None, None) and seen.status == "needsAction" and not seen.comment
            for rows, changed in zip(stored, differing, strict=True)
            for email, seen in changed.items()
        ):
            report.changed = _store_invited(db, facts, sorted(differing[0]), sorted(differing[1]), now)
            return report
    enrollments = db.exec(
        select(Enrollment, Person).where(Enrollment.session_id == facts.id, Enrollment.person_id == Person.id)
    ).all()
    hosts = db.exec(
        select(SessionHost, Person).where(SessionHost.session_id == facts.id, SessionHost.person_id == Person.id)
    ).all()
    learner_changes = [(row, p, answers[p.email.lower()]) for row, p in enrollments if _differs(row, answers, p)]
    host_changes = [(row, p, answers[p.email.lower()]) for row, p in hosts if _differs(row, answers, p)]
    if not learner_changes and not host_changes:
        return report
    # Roster writes take the session's row lock first (as the ingest API does), so the two never deadlock
    # and a promotion counts a roster nobody else is changing.
    locked = select(LiveSession).where(LiveSession.id == facts.id).with_for_update()
    session = db.exec(locked.execution_options(populate_existing=True)).first()
    if session is None:
        return report
    declined: list[_Declined] = []
    for row, person, seen in learner_changes:
        db.refresh(row)  # the enrollment as the platform may have written it since the reconcile read it
        previous = row.response_status
        row.response_status, row.response_comment, row.responded_at = seen.status, seen.comment, now
        db.add(row)
        report.changed += 1
        change = AnswerChange(person.email.lower(), previous, seen.status, row.status)
        if decide(facts.tenant.settings.get("answers"), change) is Action.CANCEL_AND_PROMOTE:
            declined.append(_Declined(row, person.email.lower(), seen.comment, previous))
            continue  # its webhook says "cancelled": written with the cancellation
        _tell(db, facts, person.email, "learner", previous, seen, row.status, now)
    for host, person, seen in host_changes:
        previous = host.response_status
        host.response_status, host.response_comment, host.responded_at = seen.status, seen.comment, now
        db.add(host)
        report.changed += 1
        _tell(db, facts, person.email, "host", previous, seen, None, now)
    if declined and session.deleted_at is None:
        _cancel_and_promote(uow, session, facts, declined, now, report)
    return report


def _store_invited(db: Session, facts: SessionFacts, learners: list[str], hosts: list[str], now: datetime) -> int:
    """Store ``needsAction`` for guests just invited whose rows hold no answer yet; returns the rows updated."""
    changed = 0
    for model, emails in ((Enrollment, learners), (SessionHost, hosts)):
        if not emails:
            continue
        people = select(Person.id).where(Person.tenant_id == facts.tenant.id, func.lower(Person.email).in_(emails))
        result = db.exec(
            update(model)
            .where(
                col(model.session_id) == facts.id,
                col(model.person_id).in_(people.scalar_subquery()),
                col(model.response_status).is_(None),
                col(model.response_comment).is_(None),
            )
            .values(response_status="needsAction", response_comment=None, responded_at=now)
            .execution_options(synchronize_session=False)
        )
        changed += int(result.rowcount or 0)
    return changed


def _differs(row: Enrollment | SessionHost, answers: dict[str, Answer], person: Person) -> bool:
    seen = answers.get(person.email.lower())
    return seen is not None and (row.response_status, row.response_comment) != (seen.status, seen.comment)


def _tell(
    db: Session,
    facts: SessionFacts,
    email: str,
    role: str,
    previous: str | None,
    seen: Answer,
    enrollment_status: str | None,
    now: datetime,
) -> None:
    if previous is None and seen.status == "needsAction" and not seen.comment:
        return  # a guest just invited has not answered: stored, but nothing to tell or audit
    db.add(
        AuditEvent(
            tenant_id=facts.tenant.id, actor="worker", action="answer.changed", session_id=facts.id,
            subject=email.lower(),
            detail={"role": role, "response_status": [previous, seen.status], "comment": seen.comment},
        )
    )
    emit(
        db,
        tenant=facts.tenant,
        event=ResponseChanged(
            session_external_id=facts.external_id, session_id=facts.id, email=email.lower(), role=role,
            response_status=seen.status, previous_response_status=previous,
            comment=seen.comment, enrollment_status=enrollment_status,
        ),
        now=now,
    )


def _cancel_and_promote(
    uow: UnitOfWork,
    session: LiveSession,
    facts: SessionFacts,
    declined: list[_Declined],
    now: datetime,
    report: AnswersReport,
) -> None:
    """Cancel each declined enrollment and promote the next waitlisted learner (``session`` is locked)."""
    db = uow.db
    report.cancelled, report.promoted = [], []
    for item in declined:
        row, email, comment = item.row, item.email, item.comment
        if row.status != EnrollmentStatus.ENROLLED.value:
            continue
        row.status, row.updated_at = EnrollmentStatus.CANCELLED.value, now
        db.add(row)
        db.flush()
        waiting = db.exec(
            select(Enrollment, Person)
            .where(
                Enrollment.session_id == facts.id,
                Enrollment.person_id == Person.id,
                Enrollment.status == EnrollmentStatus.WAITLISTED.value,
            )
            .order_by(col(Enrollment.created_at))
        ).all()
        by_email = {p.email.lower(): (e, p) for e, p in waiting}
        chosen = next_waitlisted([(p.email.lower(), e.created_at) for e, p in waiting])
        promoted_email: str | None = None
        if chosen is not None:
            enrollment, _person = by_email[chosen]
            enrollment.status, enrollment.updated_at = EnrollmentStatus.ENROLLED.value, now
            db.add(enrollment)
            promoted_email = chosen
            report.promoted.append(chosen)
        report.cancelled.append(email)
        _audit(db, facts, "enrollment.cancelled_by_decline", email, {"comment": comment, "promoted": promoted_email})
        emit(  # the answer itself, with the enrollment as it now is
            db,
            tenant=facts.tenant,
            event=ResponseChanged(
                session_external_id=facts.external_id, session_id=facts.id, email=email, role="learner",
                response_status="declined", previous_response_status=item.previous,
                comment=comment, enrollment_status="cancelled",
            ),
            now=now,
        )
        emit(
            db,
            tenant=facts.tenant,
            event=CancelledByDecline(
                session_external_id=facts.external_id, session_id=facts.id, email=email, comment=comment,
                promoted_email=promoted_email,
            ),
            now=now,
        )
        if promoted_email is not None:
            _audit(db, facts, "enrollment.promoted", promoted_email, {"replaces": email})
            emit(
                db,
                tenant=facts.tenant,
                event=Promoted(
                    session_external_id=facts.external_id, session_id=facts.id, email=promoted_email,
                    replaces_email=email,
                ),
                now=now,
            )
    if report.cancelled:
        session.revision = (session.revision or 0) + 1
        session.updated_at = now
        db.add(session)
        uow.enqueue_session(session.id)


def _audit(db: Session, facts: SessionFacts, action: str, subject: str, detail: dict[str, object]) -> None:
    db.add(
        AuditEvent(
            tenant_id=facts.tenant.id, actor="worker", action=action, session_id=facts.id, subject=subject,
            detail=detail,
        )
    )

