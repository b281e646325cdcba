"""The admin UI's read-side data functions (:mod:`engine.admin.queries`) on SQLite and PostgreSQL.

Where it sits: below the views; every function is called with one tenant's id and must never see the other.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session

from engine.admin.queries import (
    PROBLEMS,
    health_counts,
    list_audit,
    list_sessions,
    organizer_rows,
    session_detail,
)
from tests.admin_ui.factories import World, build_world


@pytest.fixture
def world(db_engine: Engine) -> World:
    return build_world(db_engine)


def test_list_sessions_counts_and_isolation(db_engine: Engine, world: World) -> None:
    with Session(db_engine) as db:
        rows, page = list_sessions(db=db, tenant_id=world.acme.tenant_id)
    assert page.total == 2 and {r.session.tenant_id for r in rows} == {world.acme.tenant_id}
    assert all(r.enrolled == 1 and r.waitlisted == 1 for r in rows)


@pytest.mark.parametrize(
    ("problem", "expected"), [("sync_error", "other_session"), ("pending", None), ("meet_failed", None)]
)
def test_problem_filters(db_engine: Engine, world: World, problem: str, expected: str | None) -> None:
    assert problem in PROBLEMS
    with Session(db_engine) as db:
        rows, _ = list_sessions(db=db, tenant_id=world.acme.tenant_id, problem=problem)
    assert [r.session.id for r in rows] == ([getattr(world.acme, expected)] if expected else [])


def test_pagination_and_host_filter(db_engine: Engine, world: World) -> None:
    with Session(db_engine) as db:
        first, page = list_sessions(db=db, tenant_id=world.acme.tenant_id, page=1, page_size=1)
        second, _ = list_sessions(db=db, tenant_id=world.acme.tenant_id, page=2, page_size=1)
        own, _ = list_sessions(
            db=db, tenant_id=world.acme.tenant_id, host_person_id=world.acme.people["organizer"]
        )
    assert page.pages == 2 and page.has_next and not page.has_prev
    assert {first[0].session.id, second[0].session.id} == {world.acme.own_session, world.acme.other_session}
    assert [r.session.id for r in own] == [world.acme.own_session]


def test_detail_of_another_tenant_is_none(db_engine: Engine, world: World) -> None:
    with Session(db_engine) as db:
        assert (
            session_detail(db=db, tenant_id=world.other.tenant_id, session_id=world.acme.own_session) is None
        )
        detail = session_detail(db=db, tenant_id=world.acme.tenant_id, session_id=world.acme.own_session)
    assert detail is not None and len(detail.history) == 3
    assert [a.status for a in detail.enrolled] == ["enrolled"] and len(detail.waitlisted) == 1


def test_audit_date_range_is_inclusive(db_engine: Engine, world: World) -> None:
    day = (datetime.now(UTC) + timedelta(days=3) - timedelta(days=3, minutes=10)).date()
    with Session(db_engine) as db:
        same_day, _ = list_audit(db=db, tenant_id=world.acme.tenant_id, since=day, until=day)
        none, _ = list_audit(db=db, tenant_id=world.acme.tenant_id, until=day - timedelta(days=1))
    assert len(same_day) >= 1 and none == []


def test_health_and_organizers(db_engine: Engine, world: World) -> None:
    with Session(db_engine) as db:
        counts = health_counts(db=db, tenant_id=world.acme.tenant_id)
        rows = organizer_rows(db=db, tenant_id=world.acme.tenant_id, now=datetime.now(UTC))
    assert counts.by_status == {"synced": 1, "error": 1}
    assert counts.errors_by_class == {"auth": 1}
    assert [r.session.id for r in counts.attention] == [world.acme.other_session]
    status = {r.person.email: (r.connection_status, r.upcoming_sessions) for r in rows}
    assert status == {"colleague@acme.example": ("revoked", 1), "organizer@acme.example": ("connected", 1)}
