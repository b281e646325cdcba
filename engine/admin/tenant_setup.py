"""Tenant set-up: the one write path for a tenant's integration and policy settings, shared by every interface.

Where it sits: ``muster tenant set`` / ``muster tenant show`` (:mod:`engine.cli.tenant_setup`), the admin REST
API (``/v1/admin/tenant``, :mod:`engine.api.routes.admin`) and the admin UI's Integration page
(:mod:`admin_ui.views.integration`) all call :func:`configure` inside their unit of work. It validates every
field (Google Workspace domain, mode, delegation method, Directory admin, fallback owner, vendor owner pool,
and each policy section through the schema of :mod:`policies.settings`), stores them, records one
``tenant.setup`` audit entry with ``{field: [old, new]}``, and enqueues the tenant's sessions after the
commit, because every setting shapes the events (guest list, notifications, rooms, who owns the event).

The domain (``Tenant.google_domain``) is what Sign in with Google's ``hd`` check and domain-wide delegation
trust. A change is refused while the Directory admin or fallback owner is outside the new domain, and while
passwords are off unless an active admin is in it (clearing it then is refused too); it ends the admin UI
sessions of people who signed in with Google and are outside the new domain (docs/integration-modes.md).

The live check of a new Directory admin (:func:`check_directory_admin`) calls Google, so it runs after the
commit, never inside the transaction; its steps are returned to the caller, who shows them.

Not done here: switching the mode of a tenant whose events already exist in Google. That moves events and
goes through the mode switch (preview, then apply: :mod:`engine.delegation.mode_switch`).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlmodel import Session, col, select

from connectors.ports.delegation import GoogleKit
from engine.admin import web_sessions
from engine.admin.queries import record_audit
from engine.admin.roles import AdminRole
from engine.api.schemas import normalize_email
from engine.crypto import encrypt
from engine.ingest.tenants import TenantError, clean_domain
from engine.settings import ConfigError, Settings, read_service_account_key
from engine.store.models import (
    CalendarBinding,
    DelegationMethod,
    IntegrationMode,
    LiveSession,
    Person,
    PersonStatus,
    Tenant,
)
from engine.store.types import utcnow
from engine.store.unit_of_work import UnitOfWork, end_reads
from engine.webhooks import address, outbox
from policies.schema import SettingError
from policies.settings import SECTIONS, TenantSettings, merged

#: The fields :func:`configure` sets, as the REST API and the CLI name them.
FIELDS = (
    "domain",
    "mode",
    "delegation_method",
    "directory_admin_email",
    "fallback_owner_email",
    "vendor_owner_emails",
    "settings",
    "webhook_secret",
)
#: The webhook secret's accepted length (it is HMAC-SHA256 key material: long and random, see docs/webhooks.md).
WEBHOOK_SECRET_MIN, WEBHOOK_SECRET_MAX = 24, 256


class SetupError(ValueError):
    """A set-up value that is not valid. ``field`` names it (``settings.rooms.headroom``), ``message`` the fix."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        self.message = message
        super().__init__(f"{field}: {message}")


def admin_console_scopes() -> tuple[str, ...]:
    """Every scope to paste into Google Admin for domain-wide delegation (sync, rooms, lifecycle)."""
    from engine.admin.connection_check import DATA_TRANSFER_SCOPE, DIRECTORY_USERS_SCOPE, DWD_SCOPES

    return (*DWD_SCOPES, DIRECTORY_USERS_SCOPE, DATA_TRANSFER_SCOPE)


def _email(raw: str | None, field_name: str, domain: str | None) -> str | None:
    """``raw`` as a stored address (None when empty); with a ``domain``, it must be an account of it."""
    if raw is None or not raw.strip():
        return None
    try:
        email = normalize_email(raw)
    except ValueError as exc:
        raise SetupError(field_name, str(exc)) from None
    if domain and not email.endswith("@" + domain.lower()):
        raise SetupError(field_name, f"must be an account in {domain}, so events stay in the customer's Google")
    return email


def _domain(raw: Any) -> str | None:
    if raw is not None and not isinstance(raw, str):
        raise SetupError("domain", "must be text, e.g. acme.example")
    try:
        return clean_domain(raw)
    except TenantError as exc:
        raise SetupError("domain", str(exc).removeprefix("domain: ")) from None


def _in_domain(email: str, domain: str) -> bool:
    return email.lower().endswith("@" + domain)


def _check_domain_change(db: Session, tenant: Tenant, old: Mapping[str, Any], new: Mapping[str, Any]) -> None:
    """Refuse a domain change that would leave set-up pointing outside it, or lock every admin out."""
    domain = new["domain"]
    if domain:
        for name in ("directory_admin_email", "fallback_owner_email"):
            if new[name] and new[name] == old[name] and not _in_domain(new[name], domain):
                raise SetupError(
                    "domain",
                    f"{name} ({new[name]}) is not an account in {domain}: give the new domain's account for it in "
                    "the same change, or clear it",
                )
    passwords_off = (new["settings"].get("sign_in") or {}).get("passwords") is False
    if not passwords_off:
        return
    if not domain:
        raise SetupError(
            "domain",
            "cannot be cleared while passwords are off (settings.sign_in.passwords = false): nobody could sign "
            "in. Turn passwords on first, then clear the domain",
        )
    admins = db.exec(
        select(Person.email).where(
            Person.tenant_id == tenant.id,
            Person.admin_role == AdminRole.ADMIN.value,
            Person.status == PersonStatus.ACTIVE.value,
        )
    ).all()
    if not any(_in_domain(email, domain) for email in admins):
        raise SetupError(
            "domain",
            f"no active admin of this tenant has an address in {domain}, and passwords are off, so nobody could "
            "sign in: grant an admin in the new domain first (People page, PUT /v1/admin/people/{email}, "
            "muster user add), or turn passwords on",
        )


def _sign_out_outside(db: Session, tenant: Tenant, domain: str | None) -> list[str]:
    """End the admin UI sessions of people who signed in with Google and are no longer in ``domain``.

    Their sign-in passed the ``hd`` check of the old domain, which no longer holds; a person with a password
    signs in again with it. Returns their addresses (for the audit entry)."""
    ended: list[str] = []
    for person in db.exec(
        select(Person).where(Person.tenant_id == tenant.id, col(Person.google_user_id).is_not(None))
    ).all():
        if domain and _in_domain(person.email, domain):
            continue
        if web_sessions.end_all(db=db, person_id=person.id):
            ended.append(person.email)
    return sorted(ended)


def _has_events(db: Session, tenant: Tenant) -> bool:
    return (
        db.exec(
            select(CalendarBinding.id).where(
                CalendarBinding.tenant_id == tenant.id, col(CalendarBinding.event_id).is_not(None)
            )
        ).first()
        is not None
    )


def _known(db: Session, tenant: Tenant, email: str) -> None:
    """Make sure Muster knows the fallback owner as a person (no role: being the fallback grants nothing)."""
    found = db.exec(select(Person.id).where(Person.tenant_id == tenant.id, Person.email == email)).first()
    if found is None:
        db.add(Person(tenant_id=tenant.id, email=email))


@dataclass
class SetupResult:
    """What :func:`configure` changed (``{field: [old, new]}``), for the audit entry and the caller's message."""

    changes: dict[str, Any] = field(default_factory=dict)
    directory_admin_changed: bool = False
    #: People whose admin UI sessions a domain change ended (signed in with Google, outside the new domain).
    signed_out: list[str] = field(default_factory=list)


def _webhook_secret(raw: Any, secret_keys: Sequence[str]) -> str | None:
    """The new secret's ciphertext (``""`` / None clears it). Raises :class:`SetupError` naming the field."""
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return None
    if not isinstance(raw, str):
        raise SetupError("webhook_secret", "must be text")
    if not (WEBHOOK_SECRET_MIN <= len(raw) <= WEBHOOK_SECRET_MAX) or not raw.isascii() or not raw.isprintable() \
            or any(c.isspace() for c in raw):
        raise SetupError(
            "webhook_secret",
            f"must be {WEBHOOK_SECRET_MIN} to {WEBHOOK_SECRET_MAX} printable ASCII characters without spaces "
            "(e.g. the output of `openssl rand -hex 32`)",
        )
    if not secret_keys:
        raise SetupError("webhook_secret", "cannot be stored: no MUSTER_SECRET_KEY is configured to encrypt it")
    return encrypt(secret_keys, raw)


def _webhook_url(settings: Mapping[str, Any] | None) -> str | None:
    url = ((settings or {}).get("webhooks") or {}).get("url")
    return str(url) if url else None


def _webhook_changes(
    changes: Mapping[str, Any], new: dict[str, Any], secret_keys: Sequence[str], old_settings: Mapping[str, Any],
    *, allow_loopback: bool,
) -> None:
    """Apply a new ``webhook_secret`` to ``new``; refuse a new webhook URL whose host name resolves to an
    internal address (a loopback ``http://`` URL unless ``allow_loopback``), and a webhook URL without a
    secret to sign with."""
    if "webhook_secret" in changes:
        new["webhook_secret"] = _webhook_secret(changes["webhook_secret"], secret_keys)
    url = _webhook_url(new["settings"])
    if url and url != _webhook_url(old_settings):
        try:  # where the name points now (each delivery checks again: DNS rebinding)
            address.check_on_save(url, allow_loopback=allow_loopback)
        except address.AddressRefused as exc:
            raise SetupError("settings.webhooks.url", str(exc)) from None
    if url and not new["webhook_secret"]:
        raise SetupError(
            "webhook_secret",
            "is required while settings.webhooks.url is set: Muster signs every webhook with it "
            "(set both together, e.g. `muster tenant set --webhook-secret $(openssl rand -hex 32)`)",
        )


def _people_changes(changes: Mapping[str, Any], new: dict[str, Any]) -> None:
    """Apply the Directory admin, fallback owner (accounts of the new domain) and vendor owner pool to ``new``."""
    for name in ("directory_admin_email", "fallback_owner_email"):
        if name in changes:
            new[name] = _email(changes[name], name, new["domain"])
    if "vendor_owner_emails" in changes:
        raw = changes["vendor_owner_emails"] or []
        if isinstance(raw, str) or not isinstance(raw, Sequence):
            raise SetupError("vendor_owner_emails", "must be a list of e-mail addresses")
        owners = [_email(str(e), "vendor_owner_emails", None) for e in raw]
        new["vendor_owner_emails"] = list(dict.fromkeys(e for e in owners if e))


def _settings_changes(
    changes: Mapping[str, Any], old: Mapping[str, Any], new: dict[str, Any], *, replace_sections: bool
) -> None:
    """Merge the policy sections of ``changes`` into ``new`` through the one schema."""
    if "settings" in changes and changes["settings"] is not None:
        if not isinstance(changes["settings"], Mapping):
            raise SetupError("settings", "must be an object of sections: " + ", ".join(SECTIONS))
        try:
            new["settings"] = merged(old["settings"], changes["settings"], replace_sections=replace_sections)
        except SettingError as exc:
            raise SetupError(f"settings.{exc.field}", exc.message) from None
        if (new["settings"].get("sign_in") or {}).get("passwords") is False and not new["domain"]:
            raise SetupError(
                "settings.sign_in.passwords",
                "this tenant has no Google Workspace domain, so Sign in with Google cannot replace passwords: "
                "keep passwords on, or set the domain first (muster tenant set --domain acme.example)",
            )


def _current(tenant: Tenant) -> dict[str, Any]:
    return {
        "domain": tenant.google_domain,
        "mode": tenant.integration_mode,
        "delegation_method": tenant.delegation_method,
        "directory_admin_email": tenant.directory_admin_email,
        "fallback_owner_email": tenant.fallback_owner_email,
        "vendor_owner_emails": list(tenant.vendor_owner_emails or []),
        "settings": dict(tenant.settings or {}),
        "webhook_secret": tenant.webhook_secret_encrypted,
    }


def configure(
    uow: UnitOfWork,
    tenant: Tenant,
    changes: Mapping[str, Any],
    *,
    actor: str,
    replace_sections: bool = False,
    secret_keys: Sequence[str] = (),
    allow_loopback_webhooks: bool = False,
) -> SetupResult:
    """Validate and store ``changes`` (keys of :data:`FIELDS`; absent keys stay as they are).

    ``settings`` maps a policy section to the keys it sets (merged into what is stored; a section given as
    ``None`` goes back to its defaults; ``replace_sections`` replaces each given section, as a form that
    shows all of a section's fields does). ``webhook_secret`` (write-only: stored encrypted with
    ``secret_keys``, never shown; the audit says only that it changed) signs the webhooks of
    ``settings.webhooks.url``, which needs one; a plain ``http://`` loopback URL is refused unless
    ``allow_loopback_webhooks`` (``Settings.webhooks_allow_loopback``). Raises :class:`SetupError` for the first
    bad field; nothing is changed then. The caller commits; the tenant's sessions are enqueued after that commit.
    """
    unknown = sorted(set(changes) - set(FIELDS))
    if unknown:
        raise SetupError(unknown[0], "unknown field; known: " + ", ".join(FIELDS))
    db = uow.db
    old = _current(tenant)
    new = dict(old)
    if "domain" in changes:
        new["domain"] = _domain(changes["domain"])
    if "mode" in changes and changes["mode"] is not None:
        try:
            new["mode"] = IntegrationMode(str(changes["mode"])).value
        except ValueError:
            raise SetupError("mode", f"{changes['mode']!r} is not one of vendor, delegation") from None
        if new["mode"] != old["mode"] and _has_events(db, tenant):
            raise SetupError(
                "mode",
                "this tenant already has events in Google: switch modes with the mode switch (Integration "
                "page > Switch mode: preview, then apply), which moves each event and emails nobody twice",
            )
    if "delegation_method" in changes and changes["delegation_method"] is not None:
        try:
            new["delegation_method"] = DelegationMethod(str(changes["delegation_method"])).value
        except ValueError:
            raise SetupError(
                "delegation_method",
                f"{changes['delegation_method']!r} is not one of "
                + ", ".join(m.value for m in DelegationMethod)
                + " (oauth: each organizer connects Google; domain_wide: the customer's domain-wide delegation)",
            ) from None
    _people_changes(changes, new)
    _settings_changes(changes, old, new, replace_sections=replace_sections)
    if new["domain"] != old["domain"]:
        _check_domain_change(db, tenant, old, new)
    _webhook_changes(changes, new, secret_keys, old["settings"], allow_loopback=allow_loopback_webhooks)
    diff = {k: [old[k], new[k]] for k in FIELDS if old[k] != new[k]}
    if "webhook_secret" in diff:  # the audit and the caller learn that it changed, never the value
        diff["webhook_secret"] = ["set" if old["webhook_secret"] else None, "set" if new["webhook_secret"] else None]
    result = SetupResult(changes=diff, directory_admin_changed="directory_admin_email" in diff)
    if not diff:
        return result
    tenant.google_domain = new["domain"]
    tenant.integration_mode = new["mode"]
    tenant.delegation_method = new["delegation_method"]
    tenant.directory_admin_email = new["directory_admin_email"]
    tenant.fallback_owner_email = new["fallback_owner_email"]
    tenant.vendor_owner_emails = new["vendor_owner_emails"]
    tenant.settings = new["settings"]
    tenant.webhook_secret_encrypted = new["webhook_secret"]
    tenant.updated_at = utcnow()
    db.add(tenant)
    if new["fallback_owner_email"] and "fallback_owner_email" in diff:
        _known(db, tenant, new["fallback_owner_email"])
    detail = dict(diff)
    if "domain" in diff:
        result.signed_out = _sign_out_outside(db, tenant, new["domain"])
        if result.signed_out:
            detail["signed_out"] = result.signed_out
    record_audit(db=db, tenant_id=tenant.id, actor=actor, action="tenant.setup", subject=tenant.slug, detail=detail)
    new_url = _webhook_url(new["settings"])
    url_changed = bool(new_url) and new_url != _webhook_url(old["settings"])
    if new["webhook_secret"] and ("webhook_secret" in diff or url_changed):
        # deliveries parked for want of a secret (or of a URL this deployment sends to) go out now
        resumed = outbox.resume_parked(db=db, tenant_id=tenant.id)
        if resumed:
            record_audit(db=db, tenant_id=tenant.id, actor=actor, action="webhook.resumed", subject=tenant.slug,
                         detail={"deliveries": resumed})
    if set(diff) <= {"webhook_secret"} or (set(diff) == {"settings"} and _only_eventless_settings(old, new)):
        return result  # where the platform is told, how people sign in: no event changes, nothing to reconcile
    for session_id in db.exec(
        select(LiveSession.id).where(LiveSession.tenant_id == tenant.id, col(LiveSession.deleted_at).is_(None))
    ):
        uow.enqueue_session(session_id)
    return result


#: Settings sections that shape no event (webhooks: where the platform is told; sign_in: how people sign in).
EVENTLESS_SECTIONS = frozenset({"webhooks", "sign_in"})


def _only_eventless_settings(old: Mapping[str, Any], new: Mapping[str, Any]) -> bool:
    before = {k: v for k, v in (old["settings"] or {}).items() if k not in EVENTLESS_SECTIONS}
    after = {k: v for k, v in (new["settings"] or {}).items() if k not in EVENTLESS_SECTIONS}
    return before == after


def settings_problem(tenant: Tenant) -> SettingError | None:
    """The first stored setting the schema refuses (an older version's value, a hand edit), or None."""
    try:
        TenantSettings.parse(tenant.settings)
    except SettingError as exc:
        return exc
    return None


def effective_settings(tenant: Tenant) -> dict[str, Any]:
    """Every policy section with every value (defaults filled in); stored sections that are invalid are
    shown as stored, so nothing is hidden."""
    out: dict[str, Any] = {}
    for key, model in SECTIONS.items():
        raw = (tenant.settings or {}).get(key)
        try:
            out[key] = model.parse(raw).stored()
        except SettingError:
            out[key] = raw
    return out


def describe(tenant: Tenant, settings: Settings) -> dict[str, Any]:
    """The tenant's whole set-up, as ``muster tenant show`` prints it and ``GET /v1/admin/tenant`` returns it."""
    client_id = key_problem = None
    if settings.google_service_account_file is not None:
        try:
            client_id = read_service_account_key(settings.google_service_account_file).get("client_id")
        except ConfigError as exc:
            key_problem = str(exc)
    else:
        key_problem = "no service account key is configured (MUSTER_GOOGLE_SERVICE_ACCOUNT_FILE)"
    problem = settings_problem(tenant)
    return {
        "slug": tenant.slug,
        "name": tenant.name,
        "domain": tenant.google_domain,
        "mode": tenant.integration_mode,
        "delegation_method": tenant.delegation_method,
        "directory_admin_email": tenant.directory_admin_email,
        "fallback_owner_email": tenant.fallback_owner_email,
        "vendor_owner_emails": list(tenant.vendor_owner_emails or []),
        "settings": effective_settings(tenant),
        "webhook_secret_set": tenant.webhook_secret_encrypted is not None,
        "config_error": f"{problem.field}: {problem.message}" if problem else None,
        "domain_wide_delegation": {
            "client_id": client_id,
            "key_problem": key_problem,
            "scopes": list(admin_console_scopes()),
            "admin_console": _admin_console(),
        },
    }


def _admin_console() -> str:
    from engine.admin.connection_check import ADMIN_CONSOLE

    return ADMIN_CONSOLE


def check_directory_admin(
    db: Session, tenant_id: uuid.UUID, settings: Settings, *, kit: GoogleKit
) -> list[dict[str, Any]]:
    """Live check of the tenant's Directory admin (rooms readable, Directory scan, Data Transfer).

    Makes real calls to Google; call it after the commit. Returns the check steps (name, outcome, message,
    fix, identity); an empty list when the tenant has no Directory admin. ``kit`` is the Google implementation
    (:func:`engine.runtime.wiring.google_kit`).
    """
    from engine.admin.connection_check import CheckReport, directory_admin_steps

    tenant = db.get(Tenant, tenant_id)
    if tenant is None or not tenant.directory_admin_email:
        return []
    admin_email = tenant.directory_admin_email
    report = CheckReport(tenant.slug, tenant.integration_mode, tenant.delegation_method, kit=kit)
    end_reads(db)  # the check calls Google: no database transaction may stay open meanwhile
    directory_admin_steps(report, settings, admin_email)
    return list(report.as_dict()["steps"])
