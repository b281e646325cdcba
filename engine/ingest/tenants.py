"""Tenants and their API keys: creating a customer workspace and issuing keys for the ingest API.

Where it sits: ``muster tenant create`` and ``muster demo`` call these inside a unit of work; the REST
API's authentication (:mod:`engine.api.deps`) calls :func:`tenant_for_key` on every request. Keys are
shown once and stored only as a SHA-256 hash (see :mod:`engine.crypto`). Data functions are
keyword-only and never commit.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence

from sqlmodel import Session, col, select

from engine.api.schemas import normalize_email
from engine.crypto import api_key_matches, api_key_prefix, new_api_key
from engine.store.models import ApiKey, ApiKeyKind, IntegrationMode, Tenant
from engine.store.types import utcnow

_SLUG = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
_DOMAIN = re.compile(
    r"^(?=.{1,253}$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)+$"
)


class TenantError(ValueError):
    """Bad tenant input; ``field`` names the option or field, the message says the fix."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


def _clean(
    *, slug: str, name: str, domain: str | None, mode: str, vendor_owners: Sequence[str]
) -> tuple[str, str, str | None, IntegrationMode, list[str]]:
    slug = slug.strip().lower()
    if not _SLUG.match(slug):
        raise TenantError("slug", f"{slug!r} must be 1-63 lower-case letters, digits or '-' (e.g. acme)")
    name = name.strip()
    if not 1 <= len(name) <= 200:
        raise TenantError("name", "must be 1 to 200 characters")
    domain = clean_domain(domain)
    try:
        integration = IntegrationMode(mode)
    except ValueError:
        raise TenantError("mode", f"{mode!r} is not one of vendor, delegation") from None
    owners: list[str] = []
    for raw in vendor_owners:
        try:
            owners.append(normalize_email(raw))
        except ValueError as exc:
            raise TenantError("vendor-owner", str(exc)) from None
    return slug, name, domain, integration, list(dict.fromkeys(owners))


def clean_domain(raw: str | None) -> str | None:
    """A Google Workspace domain as stored: lower-cased, an internationalized name in its ``xn--`` form;
    empty is None. :class:`TenantError` (field ``domain``) when it is not a DNS name like ``acme.example``."""
    if raw is None or not raw.strip():
        return None
    domain = raw.strip().lower().removesuffix(".")
    if not domain.isascii():
        try:
            domain = domain.encode("idna").decode("ascii")
        except UnicodeError:
            domain = raw.strip()
    if "@" in domain:
        hint = f" (the part after the @ of an address: {domain.rsplit('@', 1)[1]})"
    elif "://" in domain or "/" in domain:
        hint = " (the bare name, without https:// or a path)"
    else:
        hint = ""
    if not _DOMAIN.match(domain):
        raise TenantError(
            "domain", f"{raw.strip()!r} is not a domain name: write the Workspace's primary domain, e.g. acme.example"
            + hint
        )
    return domain


def get_tenant(*, db: Session, slug: str) -> Tenant | None:
    return db.exec(select(Tenant).where(Tenant.slug == slug.strip().lower())).first()


def create_tenant(
    *,
    db: Session,
    slug: str,
    name: str,
    domain: str | None = None,
    mode: str = IntegrationMode.VENDOR.value,
    vendor_owners: Sequence[str] = (),
) -> Tenant:
    """A new tenant. :class:`TenantError` on bad input or a slug already taken."""
    slug, name, domain, integration, owners = _clean(
        slug=slug, name=name, domain=domain, mode=mode, vendor_owners=vendor_owners
    )
    if get_tenant(db=db, slug=slug) is not None:
        raise TenantError("slug", f"a tenant {slug!r} already exists; pick another slug")
    tenant = Tenant(
        slug=slug,
        name=name,
        google_domain=domain,
        integration_mode=integration.value,
        vendor_owner_emails=owners,
    )
    db.add(tenant)
    db.flush()
    return tenant


def ensure_tenant(
    *,
    db: Session,
    slug: str,
    name: str,
    domain: str | None = None,
    mode: str = IntegrationMode.VENDOR.value,
    vendor_owners: Sequence[str] = (),
) -> tuple[Tenant, bool]:
    """The tenant ``slug``, created or brought in line with the arguments. Returns ``(tenant, created)``."""
    slug, name, domain, integration, owners = _clean(
        slug=slug, name=name, domain=domain, mode=mode, vendor_owners=vendor_owners
    )
    tenant = get_tenant(db=db, slug=slug)
    if tenant is None:
        return create_tenant(
            db=db, slug=slug, name=name, domain=domain, mode=mode, vendor_owners=owners
        ), True
    tenant.name, tenant.google_domain, tenant.integration_mode = name, domain, integration.value
    tenant.vendor_owner_emails = owners
    tenant.updated_at = utcnow()
    db.add(tenant)
    db.flush()
    return tenant, False


def issue_api_key(
    *, db: Session, tenant_id: uuid.UUID, name: str = "default", revoke_same_name: bool = False
) -> str:
    """A fresh API key for the tenant; returns the plaintext key (shown once, stored hashed)."""
    if revoke_same_name:
        for old in db.exec(
            select(ApiKey).where(
                ApiKey.tenant_id == tenant_id,
                ApiKey.name == name,
                ApiKey.kind == ApiKeyKind.INGEST.value,
                col(ApiKey.revoked_at).is_(None),
            )
        ):
            old.revoked_at = utcnow()
            db.add(old)
    key, prefix, key_hash = new_api_key()
    db.add(ApiKey(tenant_id=tenant_id, name=name[:100], prefix=prefix, key_hash=key_hash))
    db.flush()
    return key


def tenant_for_key(*, db: Session, key: str) -> tuple[Tenant, ApiKey] | None:
    """The tenant a presented ingest key belongs to, or None for an unknown, malformed or revoked key.

    Admin tokens and sign-in links (:class:`~engine.store.models.ApiKeyKind`) never open the ingest API."""
    prefix = api_key_prefix(key)
    if prefix is None:
        return None
    for row, tenant in db.exec(  # the key and its tenant in one round trip (every REST request starts here)
        select(ApiKey, Tenant)
        .join(Tenant, col(Tenant.id) == col(ApiKey.tenant_id))
        .where(ApiKey.prefix == prefix, ApiKey.kind == ApiKeyKind.INGEST.value, col(ApiKey.revoked_at).is_(None))
    ):
        if api_key_matches(key, row.key_hash):
            return tenant, row
    return None
