"""The connection check: "Test connection" in the admin UI and ``muster check --tenant SLUG``.

Where it sits: engine, above the probes of :class:`connectors.ports.delegation.GoogleKit` (implemented by
:mod:`connectors.google.probe`). :func:`run_check` tries each step for real
against Google (or the emulator) as the identities the sync will use and returns a :class:`CheckReport`:
one :class:`CheckStep` per step with ``ok``/``warn``/``fail``, what was seen and the fix. It never
raises for a Google answer; only the tenant lookup can fail (:class:`LookupError`).

Steps, delegation mode with domain-wide delegation:
  1. service-account key configured;
  2. token as a sample organizer (``sub`` = organizer): on ``unauthorized_client`` each scope is tried
     alone to name the missing one; if none works, and a token *without* ``sub`` works, the key is a
     service account without delegation (Google refuses attendees and Meet links for it);
  3. calendar access (``calendars.get``/``events.list`` on the organizer's primary calendar);
  4. Meet allowed (``conferenceProperties`` lists ``hangoutsMeet``);
  5. Directory rooms readable as the tenant's Directory admin.
Delegation mode with OAuth: the OAuth client is configured, each connected organizer's refresh token
still works (steps 2-4 per organizer; a refused token marks the connection, so the organizer gets the
reconnect prompt; the caller commits), who has not connected yet, and rooms (step 5) through the
service account if one is configured, else through the Directory admin's own connection.
Vendor mode: each vendor owner account gets a token through the service account (delegated) and can
use its calendar; no owner accounts means the service account would act as itself (the
"forbiddenForServiceAccounts" trap) and is reported as such.

Every API request of a step is paced like the sync's own (the probes take a slot from the process's pacer,
installed by :func:`engine.runtime.wiring.probe_kit`): a step whose slot is not free soon fails with
``throttled`` and :data:`THROTTLED_FIX`, having sent nothing.
"""

from __future__ import annotations

import enum
import uuid
from dataclasses import asdict, dataclass, field
from typing import Any

from sqlmodel import Session, col, select

from connectors.ports.delegation import GoogleKit
from engine.crypto import DecryptionError, decrypt
from engine.delegation.oauth import CALENDAR_SCOPE, DIRECTORY_ROOMS_SCOPE, mark_broken
from engine.settings import ConfigError, Settings, read_service_account_key
from engine.store.models import (
    ConnectionKind,
    ConnectionStatus,
    DelegationMethod,
    GoogleConnection,
    IntegrationMode,
    Person,
    PersonStatus,
    Role,
    SessionHost,
    Tenant,
)
from engine.store.types import utcnow

#: Scopes domain-wide delegation must grant (docs/integration-modes.md lists them for the admin).
DWD_SCOPES: tuple[str, ...] = (CALENDAR_SCOPE, DIRECTORY_ROOMS_SCOPE)
#: Scopes of the organizer lifecycle, used as the tenant's Directory admin (engine.lifecycle.run).
DIRECTORY_USERS_SCOPE = "https://www.googleapis.com/auth/admin.directory.user.readonly"
DATA_TRANSFER_SCOPE = "https://www.googleapis.com/auth/admin.datatransfer"
#: What is lost without each lifecycle scope (the check's warning says it with the fix).
LIFECYCLE_SCOPES: tuple[tuple[str, str], ...] = (
    (
        DIRECTORY_USERS_SCOPE,
        "suspended or deleted organizers are not found by the periodic Directory scan "
        "(only when a sync meets them, or when the platform announces a departure)",
    ),
    (
        DATA_TRANSFER_SCOPE,
        "events of a suspended organizer cannot be handed over by Google's Data Transfer: "
        "they are recreated under the successor instead (new Meet link, learners get a "
        "new invitation)",
    ),
)
#: A step whose request the quota pacing deferred (the sync is using this identity's quota right now).
THROTTLED_FIX = (
    "nothing was checked yet: the sync is using this identity's Google quota; run the check again in a minute"
)
ADMIN_CONSOLE = "Google Admin console > Security > Access and data control > API controls > Domain-wide delegation"


class Outcome(enum.StrEnum):
    OK = "ok"
    WARN = "warn"
    FAIL = "fail"


@dataclass(frozen=True)
class CheckStep:
    name: str
    outcome: Outcome
    message: str
    fix: str | None = None
    identity: str | None = None


@dataclass
class CheckReport:
    tenant: str
    mode: str
    method: str | None
    #: The Google implementation the steps call (injected; not part of the report's data).
    kit: GoogleKit = field(repr=False, compare=False)
    steps: list[CheckStep] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(s.outcome is not Outcome.FAIL for s in self.steps)

    def add(
        self, name: str, outcome: Outcome, message: str, fix: str | None = None, identity: str | None = None
    ) -> CheckStep:
        step = CheckStep(name, outcome, message, fix, identity)
        self.steps.append(step)
        return step

    def as_dict(self) -> dict[str, Any]:
        return {
            "tenant": self.tenant,
            "mode": self.mode,
            "method": self.method,
            "ok": self.ok,
            "steps": [{**asdict(s), "outcome": s.outcome.value} for s in self.steps],
        }

    def as_text(self) -> str:
        marks = {Outcome.OK: "ok  ", Outcome.WARN: "warn", Outcome.FAIL: "FAIL"}
        lines = [f"Connection check for {self.tenant} ({self.mode}" + (f", {self.method}" if self.method else "") + ")"]
        for s in self.steps:
            who = f" [{s.identity}]" if s.identity else ""
            lines.append(f"  {marks[s.outcome]} {s.name}{who}: {s.message}")
            if s.fix and s.outcome is not Outcome.OK:
                lines.append(f"       fix: {s.fix}")
        lines.append("Result: " + ("all steps passed" if self.ok else "some steps failed"))
        return "\n".join(lines)


def _grant_fix(client_id: str, scopes: list[str] | tuple[str, ...]) -> str:
    return f"in {ADMIN_CONSOLE}, add (or edit) client id {client_id} with the scopes " + ", ".join(scopes)


def _token_fix(code: str | None, *, identity: str, client_id: str) -> str:
    if code == "unauthorized_client":
        return _grant_fix(client_id, DWD_SCOPES)
    if code == "invalid_grant":
        return f"check that {identity} is an existing, active user of the customer's Google Workspace"
    if code in ("invalid_client", "deleted_client", "disabled_client"):
        return "the OAuth client or key was deleted or disabled in Google Cloud: create a new one and update"
    if code == "unreachable":
        return "check the network path to Google (proxy, firewall, MUSTER_GOOGLE_ROOT_URL)"
    return "see the message; fix the Google setup and run the check again"


def sample_organizer(db: Session, tenant: Tenant) -> Person | None:
    """An active person who hosts sessions (or has the organizer role) to act as in the check."""
    host = db.exec(
        select(Person)
        .join(SessionHost, col(SessionHost.person_id) == Person.id)
        .where(Person.tenant_id == tenant.id, Person.status == PersonStatus.ACTIVE.value)
        .order_by(col(Person.email))
    ).first()
    if host is not None:
        return host
    people = db.exec(
        select(Person)
        .where(Person.tenant_id == tenant.id, Person.status == PersonStatus.ACTIVE.value)
        .order_by(col(Person.email))
    ).all()
    for person in people:
        if Role.ORGANIZER.value in (person.roles or []):
            return person
    return None


def _sa_info(report: CheckReport, settings: Settings) -> dict[str, str] | None:
    if settings.google_service_account_file is None:
        report.add(
            "service account key",
            Outcome.FAIL,
            "no service account key is configured",
            "set MUSTER_GOOGLE_SERVICE_ACCOUNT_FILE to the JSON key of Muster's service account",
        )
        return None
    try:
        info = read_service_account_key(settings.google_service_account_file)
    except ConfigError as exc:
        report.add("service account key", Outcome.FAIL, str(exc), "fix the file and run the check again")
        return None
    report.add("service account key", Outcome.OK, f"{info['client_email']} (client id {info['client_id']})")
    return info


def _calendar_and_meet(report: CheckReport, creds: Any, settings: Settings, identity: str) -> None:
    cal = report.kit.calendar(creds, root_url=settings.google_root_url, identity=identity)
    if not cal.ok:
        fix = (
            f"{identity} is suspended or has no Google Calendar: unsuspend the user or pick another organizer"
            if cal.code == "notACalendarUser"
            else "grant the Calendar scope (https://www.googleapis.com/auth/calendar)"
            if cal.code == "insufficientPermissions"
            else THROTTLED_FIX
            if cal.code == "throttled"
            else "see the message"
        )
        report.add("calendar access", Outcome.FAIL, f"{cal.code}: {cal.detail}", fix, identity)
        return
    report.add("calendar access", Outcome.OK, "primary calendar readable", identity=identity)
    meet = report.kit.meet_allowed(cal.data or {})
    if meet.ok:
        report.add("Meet allowed", Outcome.OK, "Google Meet links can be created", identity=identity)
    else:
        report.add(
            "Meet allowed",
            Outcome.FAIL,
            f"Google would refuse Meet links ({meet.detail})",
            "turn on Google Meet for this user's organizational unit in the Google Admin console "
            "(Apps > Google Workspace > Google Meet > Meet video settings)",
            identity,
        )


def _dwd_token(report: CheckReport, info: dict[str, str], settings: Settings, subject: str) -> Any | None:
    root = settings.google_root_url
    creds = report.kit.sa_credentials(info, scopes=[CALENDAR_SCOPE], subject=subject, root_url=root)
    result = report.kit.token(creds)
    if result.ok:
        report.add(
            "token as organizer",
            Outcome.OK,
            "domain-wide delegation works for the Calendar scope",
            identity=subject,
        )
        return creds
    client_id = info["client_id"]
    if result.code == "unauthorized_client":
        plain = report.kit.token(
            report.kit.sa_credentials(info, scopes=[CALENDAR_SCOPE], subject=None, root_url=root)
        )
        granted = [
            s
            for s in DWD_SCOPES[1:]
            if report.kit.token(report.kit.sa_credentials(info, scopes=[s], subject=subject, root_url=root)).ok
        ]
        if plain.ok and not granted:
            report.add(
                "token as organizer",
                Outcome.FAIL,
                "this is a service account without delegation: it can sign in as itself but may not act "
                "as your users, so Google will refuse attendees and Meet links",
                _grant_fix(client_id, DWD_SCOPES),
                subject,
            )
        else:
            report.add(
                "token as organizer",
                Outcome.FAIL,
                f"the client id {client_id} is not authorized for scope {CALENDAR_SCOPE} in Google Admin",
                _grant_fix(client_id, DWD_SCOPES),
                subject,
            )
        return None
    report.add(
        "token as organizer",
        Outcome.FAIL,
        f"{result.code}: {result.detail}",
        _token_fix(result.code, identity=subject, client_id=client_id),
        subject,
    )
    return None


def _rooms_via_dwd(report: CheckReport, info: dict[str, str], settings: Settings, admin: str | None) -> None:
    if not admin:
        report.add(
            "rooms readable",
            Outcome.WARN,
            "no Directory admin is set for this tenant: rooms cannot be listed",
            "set the tenant's Directory admin (an admin e-mail of the customer's Workspace)",
        )
        return
    creds = report.kit.sa_credentials(
        info, scopes=[DIRECTORY_ROOMS_SCOPE], subject=admin, root_url=settings.google_root_url
    )
    tok = report.kit.token(creds)
    if not tok.ok:
        message = (
            f"the client id {info['client_id']} is not authorized for scope {DIRECTORY_ROOMS_SCOPE} in Google Admin"
            if tok.code == "unauthorized_client"
            else f"{tok.code}: {tok.detail}"
        )
        report.add(
            "rooms readable",
            Outcome.FAIL,
            message,
            _token_fix(tok.code, identity=admin, client_id=info["client_id"]),
            admin,
        )
        return
    _rooms_listing(report, creds, settings, admin)


def _lifecycle_scopes(report: CheckReport, info: dict[str, str] | None, settings: Settings, admin: str | None) -> None:
    """Warn (never fail) when the organizer lifecycle cannot scan the Directory or use Data Transfer."""
    name = "organizer lifecycle"
    if info is None or not admin:
        missing = "the service-account key" if info is None else "the tenant's Directory admin"
        report.add(
            name,
            Outcome.WARN,
            f"without {missing}, suspended organizers are only found during a sync and their events are "
            "recreated under the successor (new Meet link) instead of transferred by Google's Data Transfer",
            "configure MUSTER_GOOGLE_SERVICE_ACCOUNT_FILE with domain-wide delegation for "
            f"{DIRECTORY_USERS_SCOPE} and {DATA_TRANSFER_SCOPE}"
            if info is None
            else "set the tenant's Directory admin (an admin e-mail of the customer's Workspace)",
        )
        return
    refused: list[tuple[str, str]] = []
    for scope, without in LIFECYCLE_SCOPES:
        creds = report.kit.sa_credentials(info, scopes=[scope], subject=admin, root_url=settings.google_root_url)
        tok = report.kit.token(creds)
        if not tok.ok:
            refused.append((scope, without if tok.code == "unauthorized_client" else f"{tok.code}: {tok.detail}"))
    if not refused:
        report.add(name, Outcome.OK, "Directory scan and Data Transfer are authorized", identity=admin)
        return
    report.add(
        name,
        Outcome.WARN,
        "; ".join(
            f"the client id {info['client_id']} is not authorized for scope {scope} in Google Admin: {without}"
            for scope, without in refused
        ),
        _grant_fix(info["client_id"], [scope for scope, _ in refused]),
        admin,
    )


def _rooms_listing(report: CheckReport, creds: Any, settings: Settings, admin: str) -> None:
    rooms = report.kit.rooms(creds, root_url=settings.google_root_url, identity=admin or None)
    if rooms.ok:
        count = (rooms.data or {}).get("count", 0)
        report.add(
            "rooms readable",
            Outcome.OK if count else Outcome.WARN,
            f"{count} room(s) on the first page of the Directory" if count else "the Directory lists no rooms",
            None if count else "add rooms in Google Admin > Buildings and resources",
            admin,
        )
    else:
        fix = (
            f"{admin} must be a Workspace admin allowed to read calendar resources"
            if rooms.code in ("forbidden", "http403")
            else THROTTLED_FIX
            if rooms.code == "throttled"
            else "see the message"
        )
        report.add("rooms readable", Outcome.FAIL, f"{rooms.code}: {rooms.detail}", fix, admin)


def directory_admin_steps(report: CheckReport, settings: Settings, admin: str) -> None:
    """The Directory admin's part of the check (rooms readable, Directory scan, Data Transfer), alone:
    what saving a new Directory admin runs (:func:`engine.admin.tenant_setup.check_directory_admin`)."""
    info = _sa_info(report, settings)
    if info is not None:
        _rooms_via_dwd(report, info, settings, admin)
    _lifecycle_scopes(report, info, settings, admin)


def _check_dwd(
    db: Session, report: CheckReport, tenant: Tenant, settings: Settings, organizer_email: str | None
) -> None:
    info = _sa_info(report, settings)
    if info is None:
        return
    subject = organizer_email
    if subject is None:
        person = sample_organizer(db, tenant)
        subject = person.email if person else None
    if subject is None:
        report.add(
            "token as organizer",
            Outcome.WARN,
            "no organizer to act as yet",
            "add a session with an organizer, or pass an organizer e-mail to the check",
        )
    else:
        creds = _dwd_token(report, info, settings, subject)
        if creds is not None:
            _calendar_and_meet(report, creds, settings, subject)
    _rooms_via_dwd(report, info, settings, tenant.directory_admin_email)
    _lifecycle_scopes(report, info, settings, tenant.directory_admin_email)


def _check_oauth(db: Session, report: CheckReport, tenant: Tenant, settings: Settings) -> None:
    if not settings.google_oauth_client_id or not settings.google_oauth_client_secret:
        report.add(
            "OAuth client",
            Outcome.FAIL,
            "no OAuth client is configured: organizers cannot connect",
            "set MUSTER_GOOGLE_OAUTH_CLIENT_ID and MUSTER_GOOGLE_OAUTH_CLIENT_SECRET",
        )
        return
    report.add("OAuth client", Outcome.OK, f"client id {settings.google_oauth_client_id}")
    rows = db.exec(
        select(GoogleConnection, Person)
        .join(Person, col(Person.id) == GoogleConnection.person_id)
        .where(GoogleConnection.tenant_id == tenant.id, GoogleConnection.kind == ConnectionKind.OAUTH.value)
        .order_by(col(Person.email))
    ).all()
    if not rows:
        report.add(
            "connected organizers",
            Outcome.WARN,
            "no organizer has connected Google yet",
            "ask organizers to click Connect Google on their page",
        )
    admin_creds: Any = None
    for conn, person in rows:
        creds = _oauth_creds(conn, settings, report.kit)
        if creds is None:
            report.add(
                "token as organizer",
                Outcome.FAIL,
                "the stored token cannot be decrypted",
                "restore MUSTER_SECRET_KEY or ask the person to reconnect Google",
                person.email,
            )
            continue
        tok = report.kit.token(creds)
        if not tok.ok:
            fix = (
                "the organizer must reconnect Google (Connect Google on their page)"
                if tok.code == "invalid_grant"
                else _token_fix(tok.code, identity=person.email, client_id="")
            )
            report.add("token as organizer", Outcome.FAIL, f"{tok.code}: {tok.detail}", fix, person.email)
            if tok.code == "invalid_grant":  # the organizer sees the reconnect prompt right away
                mark_broken(db, conn, error=f"invalid_grant: {tok.detail}", revoked="revoked" in tok.detail.lower())
            continue
        conn.last_checked_at = utcnow()
        db.add(conn)
        report.add("token as organizer", Outcome.OK, "stored refresh token works", identity=person.email)
        _calendar_and_meet(report, creds, settings, person.email)
        if (tenant.directory_admin_email or "").lower() == person.email.lower() and DIRECTORY_ROOMS_SCOPE in (
            conn.scopes or []
        ):
            admin_creds = creds
    missing = _unconnected_hosts(db, tenant)
    if missing:
        report.add(
            "connected organizers",
            Outcome.WARN,
            f"{len(missing)} host(s) have not connected Google: {', '.join(missing[:10])}"
            + (" …" if len(missing) > 10 else ""),
            "their sessions wait until they (or a co-host) connect",
        )
    info: dict[str, str] | None = None
    if settings.google_service_account_file is not None:
        try:
            info = dict(read_service_account_key(settings.google_service_account_file))
        except ConfigError as exc:
            report.add("rooms readable", Outcome.FAIL, str(exc), "fix MUSTER_GOOGLE_SERVICE_ACCOUNT_FILE")
            return
    if admin_creds is not None:
        _rooms_listing(report, admin_creds, settings, tenant.directory_admin_email or "")
    elif info is not None:
        _rooms_via_dwd(report, info, settings, tenant.directory_admin_email)
    else:
        report.add(
            "rooms readable",
            Outcome.WARN,
            "no identity can read the room list",
            "let the Directory admin connect Google, or configure domain-wide delegation",
        )
    _lifecycle_scopes(report, info, settings, tenant.directory_admin_email)


def _oauth_creds(conn: GoogleConnection, settings: Settings, probe: GoogleKit) -> Any | None:
    if not conn.refresh_token_encrypted:
        return None
    try:
        refresh = decrypt(settings.all_secret_keys, conn.refresh_token_encrypted)
    except DecryptionError:
        return None
    return probe.oauth_credentials(
        refresh_token=refresh,
        client_id=settings.google_oauth_client_id or "",
        client_secret=settings.google_oauth_client_secret or "",
        scopes=conn.scopes or [CALENDAR_SCOPE],
        root_url=settings.google_root_url,
    )


def _unconnected_hosts(db: Session, tenant: Tenant) -> list[str]:
    hosts = db.exec(
        select(Person)
        .join(SessionHost, col(SessionHost.person_id) == Person.id)
        .where(Person.tenant_id == tenant.id, Person.status == PersonStatus.ACTIVE.value)
    ).all()
    connected = set(
        db.exec(
            select(GoogleConnection.person_id).where(
                GoogleConnection.tenant_id == tenant.id,
                GoogleConnection.kind == ConnectionKind.OAUTH.value,
                GoogleConnection.status == ConnectionStatus.CONNECTED.value,
            )
        ).all()
    )
    return sorted({p.email for p in hosts if p.id not in connected})


def _check_vendor(report: CheckReport, tenant: Tenant, settings: Settings) -> None:
    info = _sa_info(report, settings)
    if info is None:
        return
    if not tenant.vendor_owner_emails:
        plain = report.kit.token(
            report.kit.sa_credentials(info, scopes=[CALENDAR_SCOPE], subject=None, root_url=settings.google_root_url)
        )
        report.add(
            "vendor owner accounts",
            Outcome.FAIL,
            "no vendor owner account is set, so events would be written by the service account itself"
            + (" (its token works)" if plain.ok else "")
            + ": this is a service account without delegation; Google will refuse attendees and Meet links",
            "create calendar user accounts in Muster's own Workspace, authorize the service account for "
            "them with domain-wide delegation, and list them as the tenant's vendor owners",
        )
        return
    for owner in tenant.vendor_owner_emails:
        creds = _dwd_token(report, info, settings, owner)
        if creds is not None:
            cal = report.kit.calendar(creds, root_url=settings.google_root_url, identity=owner)
            if cal.ok:
                report.add("calendar access", Outcome.OK, "owner calendar readable and writable", identity=owner)
            else:
                fix = THROTTLED_FIX if cal.code == "throttled" else "see the message"
                report.add("calendar access", Outcome.FAIL, f"{cal.code}: {cal.detail}", fix, owner)


def run_check(
    db: Session,
    *,
    tenant: Tenant,
    settings: Settings,
    kit: GoogleKit,
    organizer_email: str | None = None,
) -> CheckReport:
    """Run every step for ``tenant`` and return the report. Makes real calls; never raises for Google."""
    mode = tenant.integration_mode
    method = tenant.delegation_method if mode == IntegrationMode.DELEGATION.value else None
    report = CheckReport(tenant.slug, mode, method, kit=kit)
    if mode == IntegrationMode.VENDOR.value:
        _check_vendor(report, tenant, settings)
    elif method == DelegationMethod.DOMAIN_WIDE.value:
        _check_dwd(db, report, tenant, settings, organizer_email)
    else:
        _check_oauth(db, report, tenant, settings)
    return report


def run_check_for_slug(
    db: Session,
    *,
    slug: str,
    settings: Settings,
    kit: GoogleKit,
    organizer_email: str | None = None,
) -> CheckReport:
    tenant = db.exec(select(Tenant).where(Tenant.slug == slug.strip().lower())).first()
    if tenant is None:
        raise LookupError(f"--tenant: no tenant {slug!r}; list them with `muster tenant list`")
    return run_check(db, tenant=tenant, settings=settings, organizer_email=organizer_email, kit=kit)


def check_tenant_id(db: Session, tenant_id: uuid.UUID, settings: Settings, *, kit: GoogleKit) -> CheckReport:
    """For the admin UI's button (it knows the tenant id)."""
    tenant = db.get(Tenant, tenant_id)
    if tenant is None:
        raise LookupError("tenant not found")
    return run_check(db, tenant=tenant, settings=settings, kit=kit)
