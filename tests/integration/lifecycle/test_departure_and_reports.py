"""Departure announcements, detection, transfer preview and the SPOF report, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from connectors.errors import AuthError
from connectors.ports.lifecycle import DirectoryUser
from engine.lifecycle.departure import (
    DepartureError,
    announce_departure,
    cancel_departure,
    earliest_today,
    transfer_due,
)
from engine.lifecycle.detect import apply_directory_state, departure_from_error, on_identity_error
from engine.lifecycle.preview import PATH_DATA_TRANSFER, PATH_MOVE, PATH_NONE, transfer_preview
from engine.lifecycle.spof import spof_report
from engine.store.models import (
    AuditEvent,
    ConnectionStatus,
    GoogleConnection,
    IntegrationMode,
    Person,
    PersonStatus,
)
from policies.successor import Outcome
from tests.integration.lifecycle import factories as f

TODAY = f.NOW.date()


def test_announce_validate_and_cancel(db_engine: Engine) -> None:
    with Session(db_engine) as db:
        t = f.tenant(db)
        f.person(db, t, "radia@acme.example")
        with pytest.raises(DepartureError) as unknown:
            announce_departure(db=db, tenant_id=t.id, email="nobody@acme.example", leaving_on=None,
                               actor="test", today=TODAY)
        assert unknown.value.status_code == 404
        with pytest.raises(DepartureError) as past:
            announce_departure(db=db, tenant_id=t.id, email="radia@acme.example",
                               leaving_on=TODAY - timedelta(days=1), actor="test", today=TODAY)
        assert (past.value.status_code, past.value.field) == (422, "leavingOn")
        leaving_on = TODAY + timedelta(days=17)
        p, changed = announce_departure(db=db, tenant_id=t.id, email="Radia@ACME.example",
                                        leaving_on=leaving_on, actor="test", today=TODAY)
        assert changed and p.status == PersonStatus.LEAVING.value and p.leaving_on == leaving_on
        _, again = announce_departure(db=db, tenant_id=t.id, email="radia@acme.example",
                                      leaving_on=leaving_on, actor="test", today=TODAY)
        assert not again
        assert not transfer_due(p, TODAY)
        assert transfer_due(p, leaving_on - timedelta(days=1))
        cancel_departure(db=db, tenant_id=t.id, email="radia@acme.example", actor="test")
        assert p.status == PersonStatus.ACTIVE.value and p.leaving_on is None
        with pytest.raises(DepartureError) as not_leaving:
            cancel_departure(db=db, tenant_id=t.id, email="radia@acme.example", actor="test")
        assert not_leaving.value.status_code == 404
        db.commit()
        actions = [a.action for a in db.exec(select(AuditEvent).order_by(AuditEvent.at)).all()]
        assert actions == ["person.departure_announced", "person.departure_cancelled"]


def test_directory_scan_marks_and_unmarks(db_engine: Engine) -> None:
    with Session(db_engine) as db:
        t = f.tenant(db)
        tim = f.person(db, t, "tim@acme.example")
        gone = f.person(db, t, "gone@acme.example")
        f.person(db, t, "ada@acme.example")
        res = apply_directory_state(
            db=db, tenant_id=t.id,
            suspended=[DirectoryUser("111", "Tim@acme.example", True, "ADMIN"),
                       DirectoryUser("999", "stranger@acme.example", True, "ADMIN")],
            deleted=[DirectoryUser("222", "gone@acme.example", False, None, deleted=True)])
        assert res.suspended == ["tim@acme.example"] and res.deleted == ["gone@acme.example"]
        assert tim.status == "suspended" and tim.google_user_id == "111" and gone.status == "deleted"
        conns = {c.google_email: c.status for c in db.exec(select(GoogleConnection)).all()}
        assert conns == {"tim@acme.example": ConnectionStatus.SUSPENDED.value,
                         "gone@acme.example": ConnectionStatus.REVOKED.value,
                         "ada@acme.example": ConnectionStatus.CONNECTED.value}
        again = apply_directory_state(db=db, tenant_id=t.id,
                                      suspended=[DirectoryUser("111", "tim@acme.example", True, "ADMIN")],
                                      deleted=[DirectoryUser("222", "gone@acme.example", False, None, True)])
        assert again.needs_transfer == [] and again.returned == []
        back = apply_directory_state(db=db, tenant_id=t.id, suspended=[],
                                     deleted=[DirectoryUser("222", "gone@acme.example", False, None, True)])
        assert back.returned == ["tim@acme.example"] and tim.status == "active"


@pytest.mark.parametrize(("err", "status"), [
    (AuthError("403 notACalendarUser: The user must be signed up for Google Calendar.",
               reason="notACalendarUser"), PersonStatus.SUSPENDED),
    (AuthError("invalid_grant: The account has been deleted", reason="invalid_grant"), PersonStatus.DELETED),
    (AuthError("invalid_grant: Invalid email or User ID", reason="invalid_grant"), PersonStatus.DELETED),
    (AuthError("invalid_grant: Token has been expired or revoked.", reason="invalid_grant"), None),
    (AuthError("403 forbiddenForServiceAccounts", reason="forbiddenForServiceAccounts"), None),
])
def test_identity_errors_reveal_departures(err: AuthError, status: PersonStatus | None) -> None:
    assert departure_from_error(err) == status


def test_reconcile_error_marks_person(db_engine: Engine) -> None:
    with Session(db_engine) as db:
        t = f.tenant(db)
        tim = f.person(db, t, "tim@acme.example")
        err = AuthError("403 notACalendarUser: The user must be signed up", reason="notACalendarUser")
        assert on_identity_error(db=db, tenant_id=t.id, email="tim@acme.example", err=err) is tim
        assert tim.status == PersonStatus.SUSPENDED.value
        revoked = AuthError("invalid_grant: Token has been expired or revoked.", reason="invalid_grant")
        other = f.person(db, t, "ok@acme.example")
        assert on_identity_error(db=db, tenant_id=t.id, email="ok@acme.example", err=revoked) is None
        assert other.status == PersonStatus.ACTIVE.value


def test_preview_and_spof(db_engine: Engine) -> None:
    with Session(db_engine) as db:
        t = f.tenant(db, fallback="fallback@acme.example")
        radia = f.person(db, t, "radia@acme.example", status="leaving")
        grace = f.person(db, t, "grace@acme.example")
        lazy = f.person(db, t, "lazy@acme.example", connected=False)
        f.person(db, t, "fallback@acme.example", connected=False, roles=("admin",))
        with_cohost = f.session(db, t, [radia, grace], title="Design thinking", owner="radia@acme.example")
        alone = f.session(db, t, [radia], title="Data privacy 101", days=12, owner="radia@acme.example")
        unconnected = f.session(db, t, [radia, lazy], title="Unconnected co-host", days=14)
        f.session(db, t, [grace, radia], title="Grace's own", owner="grace@acme.example")
        f.session(db, t, [radia], title="Past", days=-3, owner="radia@acme.example")
        f.session(db, t, [radia], title="Removed", owner="radia@acme.example", deleted=True)
        db.commit()

        preview = transfer_preview(db=db, tenant=t, email="radia@acme.example", now=f.NOW)
        assert preview is not None
        got = {i.title: (i.decision.outcome, i.decision.successor_email, i.path) for i in preview.items}
        assert got == {
            "Design thinking": (Outcome.CO_HOST, "grace@acme.example", PATH_MOVE),
            "Data privacy 101": (Outcome.BLOCKED, None, PATH_NONE),
            "Unconnected co-host": (Outcome.BLOCKED, None, PATH_NONE),
        }
        assert "connect Google for lazy@acme.example" in (preview.blocked[1].decision.needed or "")
        assert transfer_preview(db=db, tenant=t, email="nobody@acme.example", now=f.NOW) is None

        rows = spof_report(db=db, now=f.NOW, tenant_id=t.id)
        assert [(r.external_id, r.outcome) for r in rows] == [(alone.external_id, "blocked"),
                                                             (unconnected.external_id, "blocked")]
        assert with_cohost.external_id not in {r.external_id for r in rows}
        # The fallback owner connects: the same sessions are still single points of failure, now caught.
        fallback_person = db.exec(select(Person).where(Person.email == "fallback@acme.example")).one()
        db.add(GoogleConnection(tenant_id=t.id, person_id=fallback_person.id,
                                google_email=fallback_person.email,
                                kind="oauth", status=ConnectionStatus.CONNECTED.value))
        db.commit()
        rows = spof_report(db=db, now=f.NOW)
        assert {(r.outcome, r.successor_email) for r in rows} == {("fallback", "fallback@acme.example")}
        radia.status = PersonStatus.SUSPENDED.value
        db.add(radia)
        db.commit()
        preview = transfer_preview(db=db, tenant=t, email="radia@acme.example", now=f.NOW)
        assert preview is not None
        assert {i.path for i in preview.items} == {PATH_DATA_TRANSFER}


def test_spof_skips_vendor_mode(db_engine: Engine) -> None:
    with Session(db_engine) as db:
        t = f.tenant(db, mode=IntegrationMode.VENDOR)
        radia = f.person(db, t, "radia@acme.example", status="leaving")
        f.session(db, t, [radia])
        db.commit()
        assert spof_report(db=db, now=f.NOW) == []
        assert spof_report(db=db, now=f.NOW, tenant_id=t.id) == []


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        # 02:00 UTC on the 25th is still the evening of the 24th in California: the 24th is "today".
        (datetime(2026, 11, 25, 2, 0, tzinfo=UTC), date(2026, 11, 24)),
        # Noon UTC: the 25th has begun everywhere, even at UTC-12.
        (datetime(2026, 11, 25, 12, 0, tzinfo=UTC), date(2026, 11, 25)),
        (datetime(2026, 11, 25, 11, 59, tzinfo=UTC), date(2026, 11, 24)),
    ],
)
def test_earliest_today_accepts_a_local_today_west_of_greenwich(now: datetime, expected: date) -> None:
    assert earliest_today(now) == expected


def test_local_today_is_not_refused_as_past(db_engine: Engine) -> None:
    now = datetime(2026, 11, 25, 2, 0, tzinfo=UTC)
    with Session(db_engine) as db:
        t = f.tenant(db)
        f.person(db, t, "radia@acme.example")
        person, changed = announce_departure(db=db, tenant_id=t.id, email="radia@acme.example",
                                             leaving_on=date(2026, 11, 24), actor="test",
                                             today=earliest_today(now))
        assert changed and person.leaving_on == date(2026, 11, 24)
        with pytest.raises(DepartureError) as past:
            announce_departure(db=db, tenant_id=t.id, email="radia@acme.example",
                               leaving_on=date(2026, 11, 23), actor="test", today=earliest_today(now))
        assert (past.value.status_code, past.value.field) == (422, "leavingOn")
