"""Under domain-wide delegation the fallback owner needs no "Connect Google", known as a host or not.

Where it sits: ``tests/integration/lifecycle``; the delegation-mode tenant of ``conftest.py`` switched to
domain-wide delegation, against the emulator (which holds the customer's delegation grant).
"""

from __future__ import annotations

from sqlmodel import Session, select

from engine.lifecycle.facts import fallback_facts
from engine.store.models import Person, Tenant
from tests.integration.lifecycle.conftest import FALLBACK, Life

RADIA = "radia.backus10@acme.example"


def test_a_fallback_owner_never_seen_as_a_host_inherits_under_domain_wide_delegation(life: Life) -> None:
    life.set_tenant(delegation_method="domain_wide")
    life.connect(RADIA)
    sid = life.put_session("s-dwd-alone", hosts=[RADIA], room=False)
    assert life.settle(sid).outcome == "success"
    before = life.binding(sid)
    with Session(life.engine) as db:
        assert db.exec(select(Person).where(Person.email == FALLBACK)).first() is None  # never a host
        tenant = db.get(Tenant, life.tenant_id)
        assert tenant is not None and fallback_facts(db, tenant).connected is True
    # When the only host leaves
    assert life.request("PUT", f"/v1/people/{RADIA}/departure", {}).status_code == 200
    report = life.sweep()
    # Then the fallback owner inherits at once: no "connect Google for the fallback owner"
    [person] = report.transfers
    assert [(s.outcome, s.successor) for s in person.sessions] == [("transferred", FALLBACK)], person.sessions
    after = life.binding(sid)
    assert after.owner_email == FALLBACK and after.transfer_note is None
    assert after.event_id == before.event_id
    assert life.event(FALLBACK, after.event_id or "") is not None
    assert life.reconciler.reconcile(sid).writes == 0


def test_under_consent_an_unseen_fallback_owner_still_must_connect(life: Life) -> None:
    with Session(life.engine) as db:
        tenant = db.get(Tenant, life.tenant_id)
        assert tenant is not None and tenant.delegation_method == "oauth"
        assert fallback_facts(db, tenant).connected is False


def test_a_bad_stored_setting_stops_a_transfer_before_it_starts(life: Life) -> None:
    life.connect(RADIA)
    life.connect(FALLBACK)
    sid = life.put_session("s-bad-setting", hosts=[RADIA], room=False)
    assert life.settle(sid).outcome == "success"
    before = life.binding(sid)
    # Given a setting an older version stored, and a departure that makes the transfer due
    life.set_tenant(settings={"successor": {"eligible": ["co_host"]}})
    assert life.request("PUT", f"/v1/people/{RADIA}/departure", {}).status_code == 200
    report = life.sweep()
    # Then nothing moves, and the sweep says why in one line naming the setting
    assert report.transfers == []
    [error] = report.errors
    assert "config_error: tenant setting successor.eligible" in error and RADIA in error, error
    after = life.binding(sid)
    assert (after.owner_email, after.event_id, after.calendar_id) == (before.owner_email, before.event_id,
                                                                      before.calendar_id)
    assert life.audit("lifecycle.transferred") == []
