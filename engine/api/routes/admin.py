"""The admin REST API: a tenant's set-up and its people, authenticated by one admin's token.

Where it sits: beside the ingest routes in the same app and OpenAPI document, but opened by a different
credential: ``Authorization: Bearer <admin token>`` (``muster user token --tenant S --email E``), the token
of a person an admin granted the ``admin`` role. The platform's ingest key is refused here (401), and an
admin token is refused by the ingest routes. Writes go through the engine's one write path of each area
(:func:`engine.admin.tenant_setup.configure`, :mod:`engine.admin.people`), are audited as
``user:<email>`` and commit in the request; the tenant's sessions are enqueued after the commit.

* ``GET /v1/admin/tenant``: the whole set-up (mode, delegation method, Directory admin, fallback owner,
  vendor owner pool, every policy with its defaults, any stored ``configError``, the scopes to paste in
  Google Admin).
* ``PATCH /v1/admin/tenant``: change any of it, the Google Workspace ``domain`` included (fields left out
  stay); a new Directory admin is checked
  live after the commit and the answer carries the steps (``directoryAdminCheck``). Bad values: 422 naming
  the field (``loc: ["body", "settings", "rooms", "headroom"]``).
* ``GET /v1/admin/people``, ``PUT /v1/admin/people/{email}`` (grant a role, creating the person),
  ``POST /v1/admin/people/{email}/deactivate``, ``POST /v1/admin/people/{email}/sign-in-link``.
* ``POST /v1/admin/mode-switch/preview`` ``{"targetMode": "vendor"}``: the plan per upcoming session (nothing
  changes in Google) and its ``switchId``; ``POST /v1/admin/mode-switch/apply`` ``{"switchId", "targetMode",
  "confirm"}`` (202): the mode flips and each session is moved by the worker; ``GET /v1/admin/mode-switch``:
  the latest switch and its progress. The same service as the Integration page's Switch mode and
  ``muster tenant switch-mode`` (:mod:`engine.admin.mode_switch`), so the plan and the verdict are the same.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import AfterValidator, Field

from engine.admin import people as people_data
from engine.admin.accounts import AccountError
from engine.admin.mode_switch import SwitchOutcome, apply_switch, preview_switch, switch_status
from engine.admin.roles import ADMIN_ROLES, AdminRole
from engine.admin.tenant_setup import SetupError, check_directory_admin, configure, describe
from engine.api.deps import Uow, context
from engine.api.schemas import EMAIL_PATTERN, ApiModel, normalize_email
from engine.ingest.common import Conflict, IngestError, NotFound
from engine.runtime.wiring import probe_kit
from engine.store.models import ApiKeyKind, Person, Tenant
from policies.settings import SettingsPatch

router = APIRouter(prefix="/v1/admin", tags=["admin"])

_bearer = HTTPBearer(
    auto_error=False,
    scheme_name="AdminToken",
    description="An admin's token: `Authorization: Bearer mk_...` (`muster user token --tenant S --email E`). "
    "The platform's ingest key does not open these routes.",
)


class Admin:
    """The signed-in admin of an admin API request."""

    def __init__(self, person: Person, tenant: Tenant) -> None:
        self.person = person
        self.tenant = tenant

    @property
    def actor(self) -> str:
        return f"user:{self.person.email}"


def _unauthorized(message: str) -> HTTPException:
    return HTTPException(status_code=401, detail=message, headers={"WWW-Authenticate": 'Bearer realm="muster-admin"'})


def authenticate_admin(
    uow: Uow, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> Admin:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise _unauthorized(
            "missing admin token: send `Authorization: Bearer <token>` with an admin's token "
            "(`muster user token --tenant SLUG --email ADMIN`)"
        )
    found = people_data.person_for_token(db=uow.db, token=credentials.credentials.strip(), kind=ApiKeyKind.ADMIN)
    if found is None or found[0].admin_role != AdminRole.ADMIN.value:
        raise _unauthorized(
            "invalid admin token: it is unknown, revoked, not an admin's, or the tenant's ingest key "
            "(which opens only /v1/sessions and /v1/people); issue one with `muster user token`"
        )
    person = found[0]
    tenant = uow.db.get(Tenant, person.tenant_id)
    assert tenant is not None
    return Admin(person, tenant)


AdminCaller = Annotated[Admin, Depends(authenticate_admin)]


class CheckStepPublic(ApiModel):
    check_text = False
    name: str
    outcome: Literal["ok", "warn", "fail"]
    message: str
    fix: str | None = None
    identity: str | None = None


class DomainWideDelegationPublic(ApiModel):
    check_text = False
    client_id: str | None = Field(description="Muster's numeric client id, to enter in Google Admin")
    key_problem: str | None = Field(description="Why the client id is unknown (no or unreadable key)")
    scopes: list[str] = Field(description="Every scope to paste into Google Admin, Data Transfer included")
    admin_console: str = Field(description="Where in Google Admin to paste them")


class TenantSetupPublic(ApiModel):
    check_text = False
    slug: str
    name: str
    domain: str | None
    mode: Literal["vendor", "delegation"]
    delegation_method: Literal["oauth", "domain_wide"]
    directory_admin_email: str | None
    fallback_owner_email: str | None
    vendor_owner_emails: list[str]
    settings: dict[str, Any] = Field(description="Every policy section with every value (docs/settings.md)")
    config_error: str | None = Field(description="A stored setting the schema refuses; sync is blocked until fixed")
    webhook_secret_set: bool = Field(
        default=False, description="Whether a webhook signing secret is stored (it is never shown; docs/webhooks.md)"
    )
    domain_wide_delegation: DomainWideDelegationPublic
    directory_admin_check: list[CheckStepPublic] | None = Field(
        default=None, description="Only after a PATCH that changed the Directory admin: the live check's steps"
    )


class TenantSetupPatch(ApiModel):
    """Fields left out stay as they are; ``null`` clears an e-mail (and a settings section to its defaults)."""

    domain: str | None = Field(
        default=None,
        max_length=253,
        description="The customer's Google Workspace domain (a DNS name, stored lower-cased; an internationalized "
        "name is stored in its xn-- form); null or empty clears it. Sign in with Google admits only its accounts "
        "(the ID token's hd), and domain-wide delegation acts only as them. Refused (422 naming domain) while the "
        "Directory admin or fallback owner is outside the new domain, and, with settings.sign_in.passwords off, "
        "clearing it or a domain with no active admin. A change signs out the people who signed in with Google "
        "outside the new domain.",
        examples=["acme.example"],
    )
    mode: Literal["vendor", "delegation"] | None = Field(
        default=None, description="Only while no event exists in Google; afterwards use the mode switch"
    )
    delegation_method: Literal["oauth", "domain_wide"] | None = Field(
        default=None, description="oauth: each organizer connects Google; domain_wide: the customer's delegation"
    )
    directory_admin_email: str | None = Field(default=None, max_length=320)
    fallback_owner_email: str | None = Field(default=None, max_length=320)
    vendor_owner_emails: list[str] | None = Field(default=None, max_length=100)
    settings: SettingsPatch | None = Field(
        default=None,
        description="Per policy section (privacy, notifications, rooms, successor, lifecycle, answers, webhooks, "
        "google_changes) the keys to set, "
        'merged into what is stored, e.g. {"rooms": {"headroom": 0.1}}; a section sent as null goes back to its '
        "defaults. Each section is the schema the engine reads (docs/settings.md); an unknown section or key is "
        "refused with a 422 naming it.",
    )
    webhook_secret: str | None = Field(
        default=None,
        max_length=256,
        description="Write-only: the secret Muster signs webhooks with (24-256 printable characters, e.g. "
        "`openssl rand -hex 32`); null or empty removes it. See docs/webhooks.md.",
    )


def _setup_error(exc: SetupError) -> IngestError:
    return IngestError(exc.message, loc=["body", *_camel_path(exc.field)])


def _camel_path(field: str) -> list[str]:
    head, *rest = field.split(".")
    camel = "".join(w.capitalize() if i else w for i, w in enumerate(head.split("_")))
    return [camel, *rest]


def _public(request: Request, tenant: Tenant, check: list[dict[str, Any]] | None = None) -> TenantSetupPublic:
    data = describe(tenant, context(request).settings)
    return TenantSetupPublic.model_validate({**data, "directory_admin_check": check})


@router.get("/tenant", response_model=TenantSetupPublic, summary="The tenant's whole set-up")
def get_tenant_setup(request: Request, request_admin: AdminCaller) -> TenantSetupPublic:
    return _public(request, request_admin.tenant)


@router.patch(
    "/tenant",
    response_model=TenantSetupPublic,
    summary="Change the tenant's set-up: domain, mode, delegation method, Directory admin, owners, policies",
)
def patch_tenant_setup(
    request: Request, body: TenantSetupPatch, request_admin: AdminCaller, uow: Uow
) -> TenantSetupPublic:
    changes = {name: getattr(body, name) for name in body.model_fields_set}
    if isinstance(body.settings, SettingsPatch):
        changes["settings"] = body.settings.changes()
    tenant = request_admin.tenant
    try:
        settings = context(request).settings
        result = configure(
            uow, tenant, changes, actor=request_admin.actor, secret_keys=settings.all_secret_keys,
            allow_loopback_webhooks=settings.webhooks_allow_loopback,
        )
    except SetupError as exc:
        raise _setup_error(exc) from exc
    uow.commit()
    check = None
    if result.directory_admin_changed:
        check = check_directory_admin(uow.db, tenant.id, settings, kit=probe_kit(settings))
    return _public(request, tenant, check)


EmailPath = Annotated[
    str,
    Path(
        max_length=320,
        description="The person's email (case-insensitive).",
        json_schema_extra={"format": "email", "pattern": EMAIL_PATTERN},
    ),
    AfterValidator(normalize_email),
]


class PersonPublic(ApiModel):
    check_text = False
    email: str
    display_name: str | None
    role: str | None = Field(description="The admin-side role an admin granted (admin, organizer, viewer)")
    status: str
    hosts_sessions: bool = Field(description="Whether the platform made them a host (grants no role)")
    has_password: bool


class PersonGrant(ApiModel):
    role: Literal["admin", "organizer", "viewer"]
    display_name: str | None = Field(default=None, max_length=200)


class SignInLinkPublic(ApiModel):
    check_text = False
    email: str
    url: str = Field(description="One-time link to choose a password; valid for three days, shown once")


def _person(p: Person) -> PersonPublic:
    return PersonPublic(
        email=p.email,
        display_name=p.display_name,
        role=p.admin_role,
        status=p.status,
        hosts_sessions="organizer" in (p.roles or []),
        has_password=p.password_hash is not None,
    )


def _people_error(exc: people_data.PeopleError | AccountError) -> IngestError:
    loc = ["path", "email"] if exc.field == "email" else ["body", exc.field]
    code = getattr(exc, "status_code", 422)
    if code == 404:
        return NotFound(exc.message, loc=loc)
    if code == 409:
        return Conflict(exc.message, loc=loc)
    return IngestError(exc.message, loc=loc)


@router.get("/people", response_model=list[PersonPublic], summary="People with a role (all=true: everyone)")
def get_people(
    request_admin: AdminCaller, uow: Uow, all_people: Annotated[bool, Query(alias="all")] = False
) -> list[PersonPublic]:
    rows = people_data.list_people(db=uow.db, tenant=request_admin.tenant, everyone=all_people)
    return [_person(p) for p in rows]


@router.put(
    "/people/{email}",
    response_model=PersonPublic,
    summary=f"Grant a role ({', '.join(ADMIN_ROLES)}) to a person, creating them if new",
)
def put_person(email: EmailPath, body: PersonGrant, request_admin: AdminCaller, uow: Uow) -> PersonPublic:
    try:
        person, _created = people_data.add_person(
            db=uow.db, tenant=request_admin.tenant, email=email, role=body.role,
            display_name=body.display_name, actor=request_admin.actor,
        )
    except people_data.PeopleError as exc:
        raise _people_error(exc) from exc
    answer = _person(person)
    uow.commit()
    return answer


@router.post("/people/{email}/deactivate", response_model=PersonPublic, summary="Remove a person's admin access")
def post_deactivate(email: EmailPath, request_admin: AdminCaller, uow: Uow) -> PersonPublic:
    try:
        person = people_data.deactivate(db=uow.db, tenant=request_admin.tenant, email=email, actor=request_admin.actor)
    except people_data.PeopleError as exc:
        raise _people_error(exc) from exc
    answer = _person(person)
    uow.commit()
    return answer


@router.post(
    "/people/{email}/sign-in-link", response_model=SignInLinkPublic, summary="A one-time link to choose a password"
)
def post_sign_in_link(request: Request, email: EmailPath, request_admin: AdminCaller, uow: Uow) -> SignInLinkPublic:
    base_url = context(request).settings.base_url
    try:
        url = people_data.sign_in_link(
            db=uow.db, tenant=request_admin.tenant, email=email, base_url=base_url, actor=request_admin.actor
        )
    except people_data.PeopleError as exc:
        raise _people_error(exc) from exc
    uow.commit()
    return SignInLinkPublic(email=email, url=url)


class ModeSwitchPreviewBody(ApiModel):
    target_mode: Literal["vendor", "delegation"] = Field(description="The mode to switch the tenant to")


class ModeSwitchApplyBody(ApiModel):
    switch_id: str = Field(max_length=36, description="The id a preview returned (`switchId`)")
    target_mode: Literal["vendor", "delegation"] = Field(description="The preview's target mode")
    confirm: str = Field(max_length=20, description="The target mode typed again, as the Integration page asks")


class ModeSwitchPublic(ApiModel):
    check_text = False
    switch_id: str | None = Field(description="Apply this preview with POST /v1/admin/mode-switch/apply")
    target_mode: str
    message: str
    plan: list[dict[str, Any]] = Field(
        description="Preview only: per upcoming session its action (create, recreate, keep, wait, blocked), "
        "where the event goes, who is emailed, what happens to Meet and the room"
    )
    summary: dict[str, Any] = Field(description="Preview only: the counts of each action")


class ModeSwitchStatusPublic(ApiModel):
    check_text = False
    mode: Literal["vendor", "delegation"]
    latest: dict[str, Any] | None = Field(
        description="The latest switch (switchId, from, to, status, total, done, failed, progress, lastError), "
        "or null when none was ever previewed"
    )


def _switch_error(outcome: SwitchOutcome) -> IngestError:
    loc = ["body", _camel_path(outcome.field)[0]]
    if "already" in outcome.message:
        return Conflict(outcome.message, loc=loc)
    return IngestError(outcome.message, loc=loc)


def _switch_public(outcome: SwitchOutcome) -> ModeSwitchPublic:
    return ModeSwitchPublic(switch_id=outcome.switch_id, target_mode=outcome.target, message=outcome.message,
                            plan=outcome.plan, summary=outcome.summary)


@router.get("/mode-switch", response_model=ModeSwitchStatusPublic, summary="The latest mode switch and its progress")
def get_mode_switch(request: Request, request_admin: AdminCaller) -> ModeSwitchStatusPublic:
    ctx = context(request)
    status = switch_status(ctx.settings, request_admin.tenant, engine=ctx.engine)
    described = status.describe()
    return ModeSwitchStatusPublic(
        mode=request_admin.tenant.integration_mode,
        latest={_camel_path(k)[0]: v for k, v in described.items()} if described else None,
    )


@router.post(
    "/mode-switch/preview",
    response_model=ModeSwitchPublic,
    summary="Preview switching the tenant's mode: the plan per session; nothing changes in Google",
)
def post_mode_switch_preview(
    request: Request, body: ModeSwitchPreviewBody, request_admin: AdminCaller
) -> ModeSwitchPublic:
    ctx = context(request)
    outcome = preview_switch(ctx.settings, ctx.engine, request_admin.tenant.id, body.target_mode,
                             actor=request_admin.actor)
    if not outcome.ok:
        raise _switch_error(outcome)
    return _switch_public(outcome)


@router.post(
    "/mode-switch/apply",
    response_model=ModeSwitchPublic,
    status_code=202,
    summary="Apply a previewed mode switch: the mode flips and each session is moved in the background",
)
def post_mode_switch_apply(
    request: Request, body: ModeSwitchApplyBody, request_admin: AdminCaller
) -> ModeSwitchPublic:
    ctx = context(request)
    outcome = apply_switch(ctx.settings, ctx.engine, request_admin.tenant.id, body.target_mode,
                           actor=request_admin.actor, confirm=body.confirm, switch_id=body.switch_id,
                           dispatcher=ctx.dispatcher)
    if not outcome.ok:
        raise _switch_error(outcome)
    return _switch_public(outcome)
