"""The domain model on both stacks: UTC round trips, tenant-scoped uniqueness, encryption at rest."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError, StatementError
from sqlmodel import Session, select

from engine import crypto
from engine.store.models import LiveSession, Person, Tenant


def _tenant(db: Session, slug: str = "acme") -> Tenant:
    tenant = Tenant(slug=slug, name=slug.title())
    db.add(tenant)
    db.flush()
    return tenant


def test_datetimes_come_back_aware_utc(db_engine: Engine) -> None:
    berlin = timezone(timedelta(hours=1))
    with Session(db_engine) as db:
        tenant = _tenant(db)
        db.add(
            LiveSession(
                tenant_id=tenant.id, external_id="s1", title="T", time_zone="Europe/Berlin",
                start_at=datetime(2026, 11, 30, 9, 30, tzinfo=berlin),
                end_at=datetime(2026, 11, 30, 10, 15, tzinfo=berlin),
            )
        )
        db.commit()
    with Session(db_engine) as db:
        row = db.exec(select(LiveSession)).one()
        assert row.start_at == datetime(2026, 11, 30, 8, 30, tzinfo=UTC)
        assert row.start_at.utcoffset() == timedelta(0)


def test_naive_datetimes_are_refused(db_engine: Engine) -> None:
    with Session(db_engine) as db:
        tenant = _tenant(db)
        db.add(
            LiveSession(
                tenant_id=tenant.id, external_id="s1", title="T", time_zone="UTC",
                start_at=datetime(2026, 1, 1, 9), end_at=datetime(2026, 1, 1, 10),
            )
        )
        with pytest.raises(StatementError, match="naive datetime"):
            db.flush()


def test_person_email_unique_per_tenant_only(db_engine: Engine) -> None:
    with Session(db_engine) as db:
        a, b = _tenant(db, "a"), _tenant(db, "b")
        db.add(Person(tenant_id=a.id, email="x@acme.example"))
        db.add(Person(tenant_id=b.id, email="x@acme.example"))
        db.commit()
        db.add(Person(tenant_id=a.id, email="x@acme.example"))
        with pytest.raises(IntegrityError):
            db.commit()


def test_credentials_encrypted_at_rest() -> None:
    cipher = crypto.encrypt("k" * 40, "1//refresh-token")
    assert "refresh-token" not in cipher
    assert crypto.decrypt("k" * 40, cipher) == "1//refresh-token"
    with pytest.raises(crypto.DecryptionError, match="MUSTER_SECRET_KEY"):
        crypto.decrypt("other" * 10, cipher)


def test_api_keys_are_hashed_and_parsed() -> None:
    key, prefix, key_hash = crypto.new_api_key()
    assert crypto.api_key_prefix(key) == prefix
    assert crypto.api_key_matches(key, key_hash)
    assert not crypto.api_key_matches(key + "x", key_hash)
    assert crypto.api_key_prefix("Bearer nonsense") is None
