"""Sign-in that resists guessing: per account and per address, a growing delay, then a temporary lock.

Where it sits: :mod:`engine.admin.throttle` through the real sign-in form (:mod:`admin_ui.views.auth`). The
view's clock is moved by the test (``admin_ui.views.auth.utcnow``), so "waiting" costs no wall time.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from fastapi import FastAPI
from sqlalchemy.engine import Engine
from sqlmodel import Session, select
from starlette.testclient import TestClient

import admin_ui.views.auth
from engine.store.models import AuditEvent
from tests.admin_ui.conftest import post_login
from tests.admin_ui.factories import PASSWORD, World


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kw: float) -> None:
        self.now += timedelta(**kw)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    c = Clock()
    monkeypatch.setattr(admin_ui.views.auth, "utcnow", c)
    return c


def _locks(engine: Engine) -> list[AuditEvent]:
    with Session(engine) as db:
        return list(db.exec(select(AuditEvent).where(AuditEvent.action == "auth.locked")).all())


def test_100_wrong_passwords_are_slowed_then_locked_and_the_right_one_waits_for_the_lock(
    client_as: Callable[..., TestClient], world: World, engine_under_test: Engine, clock: Clock
) -> None:
    client = client_as(None)
    email = world.acme.emails["admin"]
    answers = [post_login(client, email, f"guess number {i}") for i in range(100)]
    statuses = [a.status_code for a in answers]
    # The first three are ordinary failures, then every attempt is refused (slowed, then locked)
    assert statuses[:3] == [400, 400, 400] and set(statuses[3:]) == {429}
    assert "wait" in answers[3].context["error"] and int(answers[3].headers["retry-after"]) >= 1  # type: ignore[attr-defined]
    assert "locked until 09:15 UTC" in answers[99].context["error"]  # type: ignore[attr-defined]
    # The right password is refused while the lock lasts, and nobody is signed in
    right = post_login(client, email, PASSWORD)
    assert right.status_code == 429 and "locked" in right.context["error"]  # type: ignore[attr-defined]
    assert client.get("/admin/sessions", follow_redirects=False).status_code == 303
    clock.advance(minutes=14)
    assert post_login(client, email, PASSWORD).status_code == 429
    # One audit entry says so, in the tenant, naming the account
    (lock,) = [e for e in _locks(engine_under_test) if e.detail["scope"] == "account"]
    assert lock.tenant_id == world.acme.tenant_id and lock.subject == email
    assert lock.detail["scope"] == "account" and lock.detail["failures"] == 10
    # When the lock ends, the right password signs in
    clock.advance(minutes=2)
    assert post_login(client, email, PASSWORD).status_code == 303
    assert client.get("/admin/sessions").status_code == 200


def test_the_delay_grows_and_an_attempt_after_it_is_evaluated(
    client_as: Callable[..., TestClient], world: World, clock: Clock
) -> None:
    client = client_as(None)
    email = world.acme.emails["viewer"]
    for _ in range(3):
        assert post_login(client, email, "wrong password here").status_code == 400
    waits = []
    for _ in range(4):
        early = post_login(client, email, "wrong password here")
        assert early.status_code == 429
        waits.append(int(early.headers["retry-after"]))
        clock.advance(seconds=waits[-1])
        assert post_login(client, email, "wrong password here").status_code == 400  # evaluated, and wrong
    # refused early attempts count too, so the waits grow quickly
    assert waits == sorted(waits) and waits[-1] > waits[0]
    # A right password after the delay signs in and clears the account's count
    clock.advance(seconds=61)
    assert post_login(client, email, PASSWORD).status_code == 303
    client.cookies.clear()
    assert post_login(client, email, "wrong once more").status_code == 400


def test_one_address_guessing_many_accounts_is_locked(
    web_app: FastAPI, world: World, engine_under_test: Engine, clock: Clock
) -> None:
    attacker = TestClient(web_app, client=("203.0.113.7", 4000))
    statuses = [post_login(attacker, f"user{i}@acme.example", "a guessed password").status_code for i in range(101)]
    assert statuses[:20] == [400] * 20 and statuses[-1] == 429
    last = post_login(attacker, world.acme.emails["admin"], PASSWORD)
    assert last.status_code == 429 and "network address is locked" in last.context["error"]  # type: ignore[attr-defined]
    assert any(e.detail["scope"] == "address" for e in _locks(engine_under_test))
    # Someone else, elsewhere, signs in as usual
    colleague = TestClient(web_app, client=("198.51.100.20", 4000))
    assert post_login(colleague, world.acme.emails["admin"], PASSWORD).status_code == 303


def test_unknown_accounts_are_throttled_the_same_way(
    client_as: Callable[..., TestClient], world: World, clock: Clock
) -> None:
    known = [
        post_login(client_as(None), world.acme.emails["organizer"], "nope nope nope").status_code for _ in range(12)
    ]
    clock.advance(hours=1)
    unknown = [post_login(client_as(None), "ghost@acme.example", "nope nope nope").status_code for _ in range(12)]
    assert known == unknown and known[-1] == 429


def test_limits_set_in_the_environment_are_the_ones_the_sign_in_form_applies(
    engine_under_test: Engine, world: World, clock: Clock
) -> None:
    """Round trip: ``MUSTER_SIGN_IN_*`` read by load_settings, then the real form throttles by them."""
    from admin_ui.web import create_web_app
    from engine.settings import load_settings
    from tests.admin_ui.conftest import SECRET

    settings = load_settings({
        "MUSTER_DATABASE_URL": engine_under_test.url.render_as_string(hide_password=False),
        "MUSTER_SECRET_KEY": SECRET,
        "MUSTER_SIGN_IN_ACCOUNT_FREE_FAILURES": "1",
        "MUSTER_SIGN_IN_ACCOUNT_LOCK_AFTER": "3",
        "MUSTER_SIGN_IN_LOCK_MINUTES": "5",
    })
    client = TestClient(create_web_app(settings), base_url="http://testserver")
    email = world.acme.emails["admin"]
    statuses = [post_login(client, email, f"guess {i}").status_code for i in range(3)]
    assert statuses == [400, 429, 429]  # one free failure, then slowed; the third failure locks
    right = post_login(client, email, PASSWORD)
    assert right.status_code == 429 and "locked until 09:05 UTC" in right.context["error"]  # type: ignore[attr-defined]
    (lock,) = _locks(engine_under_test)
    assert lock.detail["failures"] == 3 and lock.subject == email
    clock.advance(minutes=4)
    assert post_login(client, email, PASSWORD).status_code == 429
    clock.advance(minutes=2)
    assert post_login(client, email, PASSWORD).status_code == 303  # the configured 5 minutes, not 15
