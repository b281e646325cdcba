"""Integration page (admins; viewers read): the two modes, their set-up, the live check, policies, switching.

Where it sits: reads the tenant and settings; "Test connection" runs the engine's connection check
(:mod:`engine.admin.connection_check`) and shows each result with its fix; policies are validated and saved by
:func:`engine.admin.queries.save_tenant_policies`; switching mode goes through the engine's mode-switch
preview, then apply (:mod:`admin_ui.services.mode_switch`). "Test connection" and "Preview" render their answer
directly (they change nothing); saving policies and applying a switch redirect (303) after commit.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from starlette.datastructures import FormData
from starlette.responses import Response

from admin_ui.auth import CurrentUser, csrf_form, db_engine, require
from admin_ui.services.connection_check import run_check, setup_facts
from admin_ui.services.mode_switch import apply_switch, preview_switch, switch_status
from admin_ui.templating import flash, redirect, render
from engine.admin.queries import (
    GUEST_LIST_CHOICES,
    SEND_UPDATES_CHOICES,
    PolicyError,
    record_audit,
    save_tenant_policies,
    tenant_policies,
)
from engine.admin.roles import Need
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
        "policies": tenant_policies(tenant),
        "guest_list_choices": GUEST_LIST_CHOICES,
        "send_updates_choices": SEND_UPDATES_CHOICES,
        "policy_errors": {},
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


@router.post("/integration/policies")
def save_policies(
    request: Request, user: CurrentUser = Depends(require(Need.MANAGE_TENANT)), form: FormData = Depends(csrf_form)
) -> Response:
    values = {k: str(form.get(k) or "") for k in ("fallback_owner_email", "guest_list", "send_updates")}
    try:
        with unit_of_work(db_engine(request)) as uow:
            tenant = uow.db.get(Tenant, user.tenant_id)
            assert tenant is not None
            changes = save_tenant_policies(db=uow.db, tenant=tenant, **values)
            if changes:
                record_audit(
                    db=uow.db,
                    tenant_id=user.tenant_id,
                    actor=user.actor,
                    action="admin.policies",
                    subject=tenant.slug,
                    detail=changes,
                )
    except PolicyError as exc:
        ctx = _page_context(request, user, policy_errors={exc.field: exc.message})
        ctx["policies"] = {**ctx["policies"], **values}
        return render(request, "admin/integration/detail.html", ctx, status_code=400)
    flash(request, "Policies saved." if changes else "Nothing changed.", "ok" if changes else "info")
    return redirect("/admin/integration")


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
