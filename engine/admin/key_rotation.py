"""Re-encrypting every stored credential under the first ``MUSTER_SECRET_KEY`` key (``muster secrets rotate``).

Where it sits: called by :mod:`engine.cli.secrets` inside one unit of work. It reads each
:class:`~engine.store.models.GoogleConnection` ciphertext (and each tenant's webhook secret) with every
configured key and writes it back under the first (cryptography's ``MultiFernet.rotate``); the connection's
status and last error are untouched.
Once it reports nothing unreadable, the older keys can be removed from ``MUSTER_SECRET_KEY``.
Data functions take the caller's ``db`` and never commit (house style §10).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlmodel import Session, col, select

from engine.crypto import DecryptionError, encrypted_with_first, rotate
from engine.store.models import GoogleConnection, Person, Tenant


@dataclass
class RotationReport:
    rotated: int = 0
    current: int = 0  #: already under the first key
    unreadable: list[str] = field(default_factory=list)  #: ``tenant/email`` of credentials no key reads


def rotate_credentials(*, db: Session, secret_keys: Sequence[str]) -> RotationReport:
    report = RotationReport()
    rows = db.exec(
        select(GoogleConnection, Person.email, Tenant.slug)
        .join(Person, col(Person.id) == GoogleConnection.person_id)
        .join(Tenant, col(Tenant.id) == GoogleConnection.tenant_id)
        .where(col(GoogleConnection.refresh_token_encrypted).is_not(None))
        .order_by(col(Tenant.slug), col(Person.email))
    ).all()
    for conn, email, slug in rows:
        ciphertext = conn.refresh_token_encrypted or ""
        if encrypted_with_first(secret_keys, ciphertext):
            report.current += 1
            continue
        try:
            conn.refresh_token_encrypted = rotate(secret_keys, ciphertext)
        except DecryptionError:
            report.unreadable.append(f"{slug}/{email} ({conn.kind})")
            continue
        db.add(conn)
        report.rotated += 1
    tenants = db.exec(
        select(Tenant).where(col(Tenant.webhook_secret_encrypted).is_not(None)).order_by(col(Tenant.slug))
    ).all()
    for tenant in tenants:
        ciphertext = tenant.webhook_secret_encrypted or ""
        if encrypted_with_first(secret_keys, ciphertext):
            report.current += 1
            continue
        try:
            tenant.webhook_secret_encrypted = rotate(secret_keys, ciphertext)
        except DecryptionError:
            report.unreadable.append(f"{tenant.slug} (webhook secret)")
            continue
        db.add(tenant)
        report.rotated += 1
    return report
