"""Integration page (admins; viewers read): the two modes, their set-up, the live check, policies, switching.

Where it sits: reads the tenant and settings; "Test connection" runs the engine's connection check
(:mod:`engine.admin.connection_check`) and shows each result with its fix; the set-up form (Google Workspace domain,
delegation method, Directory admin, vendor owner pool) and the policies form are turned into changes by
:mod:`admin_ui.services.setup_form` and saved through :func:`engine.admin.tenant_setup.configure`, the same
write path as the REST API and ``muster tenant set`` (a new Directory admin is checked live after the commit);
switching mode goes through the engine's mode-switch preview, then apply
(:mod:`engine.admin.mode_switch`, the same service as ``/v1/admin/mode-switch`` and
``muster tenant switch-mode``). "Test connection" and "Preview" render their answer directly (they
change nothing); saving policies and applying a switch redirect (303) after commit.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from starlette.datastructures import FormData
from starlette.responses import Response

from admin_ui.auth import CurrentUser, csrf_form, db_engine, require
from admin_ui.services.connection_check import run_check, setup_facts
from admin_ui.services.setup_form import (
    DECLINE_CHOICES,
    GOOGLE_DELETED_CHOICES,
    GOOGLE_EDIT_CHOICES,
    GUEST_LIST_CHOICES,
    NOTIFY_CHOICES,
    OUTGROWN_CHOICES,
    WEBHOOK_EVENT_TYPES,
    error_field,
    form_values,
    policy_changes,
    setup_changes,
)
from admin_ui.templating import flash, redirect, render
from engine.admin.mode_switch import apply_switch, preview_switch, switch_status
from engine.admin.roles import Need
from engine.admin.tenant_setup import SetupError, check_directory_admin, configure, settings_problem
from engine.runtime.wiring import probe_kit
from engine.store.models import IntegrationMode, Tenant
from engine.store.unit_of_work import unit_of_work

router = APIRouter()

#: What each mode can do, row by row: (question, vendor answer, delegation answer).
CAPABILITIES = [
    (
        "Where events live",
        "In Muster's own owner calendars (vendor domain); learners and hosts are invited",
        "In each organizer's own Google Calendar, written as them",
    ),
    (
        "Attendees",
        "Hosts and enrolled learners are invited as guests",
        "Hosts and enrolled learners are invited",
    ),
    (
        "Google Meet links",
        "No: events outside your domain cannot create Meet for your users; use a manual link",
        "Yes: a unique Meet link per session, owned by the organizer",
    ),
    (
        "Rooms",
        "No: your room resources cannot be booked from outside your domain",
        "Yes: a free room that fits is booked (or the one the organizer picked)",
    ),
    (
        "Whose API quota pays",
        "Muster's Google project, per owner account",
        "Your domain's quota, per organizer",
    ),
    (
        "Set-up in Google",
        "None",
        "Domain-wide delegation in Google Admin, or each organizer clicks Connect Google",
    ),
    (
        "When an organizer leaves",
        "Nothing changes (Muster owns the events)",
        "Events move to a co-host or the fallback owner before the account closes",
    ),
]


def _page_context(request: Request, user: CurrentUser, **extra: Any) -> dict[str, Any]:
    settings = request.app.state.settings
    with unit_of_work(db_engine(request)) as uow:
        tenant = uow.db.get(Tenant, user.tenant_id)
        assert tenant is not None
        uow.db.expunge(tenant)
    ctx: dict[str, Any] = {
        "tenant": tenant,
        "mode": tenant.integration_mode,
        "modes": [m.value for m in IntegrationMode],
        "capabilities": CAPABILITIES,
        "setup": setup_facts(settings, tenant),
        "policies": form_values(tenant),
        "guest_list_choices": GUEST_LIST_CHOICES,
        "outgrown_choices": OUTGROWN_CHOICES,
        "google_edit_choices": GOOGLE_EDIT_CHOICES,
        "google_deleted_choices": GOOGLE_DELETED_CHOICES,
        "notify_choices": NOTIFY_CHOICES,
        "decline_choices": DECLINE_CHOICES,
        "webhook_event_types": WEBHOOK_EVENT_TYPES,
        "config_error": settings_problem(tenant),
        "policy_errors": {},
        "setup_errors": {},
        "directory_check": None,
        "check": None,
        "preview": None,
        "switch": switch_status(settings, tenant),
        "can_edit": user.is_admin,
    }
    ctx.update(extra)
    return ctx


@router.get("/integration")
def integration_page(request: Request, user: CurrentUser = Depends(require(Need.READ_TENANT))) -> Response:
    return render(request, "admin/integration/detail.html", _page_context(request, user))


@router.post("/integration/check")
def test_connection(
    request: Request, user: CurrentUser = Depends(require(Need.MANAGE_TENANT)), _form: FormData = Depends(csrf_form)
) -> Response:
    result = run_check(request.app.state.settings, db_engine(request), user.tenant_id)
    return render(request, "admin/integration/detail.html", _page_context(request, user, check=result))


def _save(request: Request, user: CurrentUser, changes: dict[str, Any], *, replace_sections: bool) -> bool:
    """Store ``changes`` through the engine's one write path; True when something changed."""
    with unit_of_work(db_engine(request)) as uow:
        tenant = uow.db.get(Tenant, user.tenant_id)
        assert tenant is not None
        result = configure(
            uow, tenant, changes, actor=user.actor, replace_sections=replace_sections,
            secret_keys=request.app.state.settings.all_secret_keys,
            allow_loopback_webhooks=request.app.state.settings.webhooks_allow_loopback,
        )
    return bool(result.changes)


@router.post("/integration/policies")
def save_policies(
    request: Request, user: CurrentUser = Depends(require(Need.MANAGE_TENANT)), form: FormData = Depends(csrf_form)
) -> Response:
    try:
        changed = _save(request, user, policy_changes(form), replace_sections=True)
    except SetupError as exc:
        ctx = _page_context(request, user, policy_errors={error_field(exc.field): exc.message})
        ctx["policies"] = {**ctx["policies"], **{k: str(form.get(k) or "") for k in ("fallback_owner_email",)}}
        return render(request, "admin/integration/detail.html", ctx, status_code=400)
    flash(request, "Policies saved." if changed else "Nothing changed.", "ok" if changed else "info")
    return redirect("/admin/integration#policies")


@router.post("/integration/setup")
def save_setup(
    request: Request, user: CurrentUser = Depends(require(Need.MANAGE_TENANT)), form: FormData = Depends(csrf_form)
) -> Response:
    """Domain, delegation method, Directory admin (checked live once saved), vendor owner pool, mode while empty."""
    changes = setup_changes(form)
    try:
        with unit_of_work(db_engine(request)) as uow:
            tenant = uow.db.get(Tenant, user.tenant_id)
            assert tenant is not None
            result = configure(uow, tenant, changes, actor=user.actor)
    except SetupError as exc:
        ctx = _page_context(request, user, setup_errors={error_field(exc.field): exc.message})
        ctx["policies"] = {**ctx["policies"], **{k: str(v) for k, v in changes.items() if k != "vendor_owner_emails"}}
        return render(request, "admin/integration/detail.html", ctx, status_code=400)
    if result.directory_admin_changed:
        with unit_of_work(db_engine(request)) as uow:
            settings = request.app.state.settings
            steps = check_directory_admin(uow.db, user.tenant_id, settings, kit=probe_kit(settings))
        return render(
            request, "admin/integration/detail.html", _page_context(request, user, directory_check=steps)
        )
    message = "Set-up saved." if result.changes else "Nothing changed."
    if result.signed_out:
        message += " Signed out (signed in with Google, outside the new domain): " + ", ".join(result.signed_out) + "."
    flash(request, message, "ok" if result.changes else "info")
    return redirect("/admin/integration#setup")


@router.post("/integration/switch/preview")
def switch_preview(
    request: Request, user: CurrentUser = Depends(require(Need.MANAGE_TENANT)), form: FormData = Depends(csrf_form)
) -> Response:
    target = str(form.get("target_mode") or "")
    preview = preview_switch(request.app.state.settings, db_engine(request), user.tenant_id, target, actor=user.actor)
    status = 200 if preview.ok else 400
    return render(
        request,
        "admin/integration/detail.html",
        _page_context(request, user, preview=preview),
        status_code=status,
    )


@router.post("/integration/switch/apply")
def switch_apply(
    request: Request, user: CurrentUser = Depends(require(Need.MANAGE_TENANT)), form: FormData = Depends(csrf_form)
) -> Response:
    target = str(form.get("target_mode") or "")
    outcome = apply_switch(
        request.app.state.settings,
        db_engine(request),
        user.tenant_id,
        target,
        actor=user.actor,
        confirm=str(form.get("confirm") or ""),
        switch_id=str(form.get("switch_id") or ""),
    )
    if not outcome.ok:
        return render(
            request,
            "admin/integration/detail.html",
            _page_context(request, user, preview=outcome),
            status_code=400,
        )
    flash(request, outcome.message)
    return redirect("/admin/integration#switch")
