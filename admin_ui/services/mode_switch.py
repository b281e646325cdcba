"""Switching a tenant between vendor and delegation mode: preview, apply, progress.

Where it sits: :mod:`admin_ui.views.integration` calls these; the work is done by the engine's
mode-switch module (:mod:`engine.delegation.mode_switch`), which records each switch as a
:class:`~engine.store.models.ModeSwitch` row. The admin UI shows the preview, asks for confirmation, applies,
and then shows progress from the latest row.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from engine.delegation import mode_switch
from engine.settings import Settings
from engine.store.models import IntegrationMode, ModeSwitch, ModeSwitchStatus, Tenant
from engine.store.unit_of_work import get_engine, unit_of_work


@dataclass
class SwitchOutcome:
    ok: bool
    message: str
    target: str = ""
    plan: list[dict[str, Any]] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)
    switch_id: str | None = None


@dataclass
class SwitchStatus:
    latest: ModeSwitch | None = None  #: the latest ModeSwitch row, if any


def _validate_target(engine: Engine, tenant_id: uuid.UUID, target: str) -> SwitchOutcome | None:
    if target not in {m.value for m in IntegrationMode}:
        return SwitchOutcome(ok=False, message="Choose the mode to switch to (vendor or delegation).", target=target)
    with Session(engine) as db:
        tenant = db.get(Tenant, tenant_id)
        if tenant is not None and tenant.integration_mode == target:
            return SwitchOutcome(ok=False, message=f"This workspace already runs in {target} mode.", target=target)
    return None


def preview_switch(
    settings: Settings, engine: Engine, tenant_id: uuid.UUID, target: str, *, actor: str
) -> SwitchOutcome:
    """Compute and store the plan (:func:`engine.delegation.mode_switch.preview`); nothing changes in Google."""
    bad = _validate_target(engine, tenant_id, target)
    if bad is not None:
        return bad
    try:
        with unit_of_work(engine) as uow:
            tenant = uow.db.get(Tenant, tenant_id)
            assert tenant is not None
            switch = mode_switch.preview(uow.db, tenant=tenant, target=target, settings=settings, requested_by=actor)
            plan, summary, switch_id = list(switch.plan), mode_switch.summary(switch), str(switch.id)
    except mode_switch.ModeSwitchError as exc:
        return SwitchOutcome(ok=False, target=target, message=str(exc).split(": ", 1)[-1])
    return SwitchOutcome(
        ok=True,
        target=target,
        plan=plan,
        summary=summary,
        switch_id=switch_id,
        message=f"Switching to {target} mode would do this to {len(plan)} upcoming session(s). "
        "Nothing has changed yet.",
    )


def apply_switch(
    settings: Settings,
    engine: Engine,
    tenant_id: uuid.UUID,
    target: str,
    *,
    actor: str,
    confirm: str,
    switch_id: str,
) -> SwitchOutcome:
    """Start the previewed switch: flip the mode and enqueue each session; the worker moves the events.

    Progress is read back with :func:`switch_status` (refreshed from the bindings on each page view).
    """
    if confirm.strip().lower() != target:
        return SwitchOutcome(
            ok=False, target=target, message=f"Type {target} in the confirmation box to apply the switch."
        )
    try:
        sid = uuid.UUID(switch_id)
    except ValueError:
        return SwitchOutcome(ok=False, target=target, message="Preview the switch first, then apply it.")
    try:
        with unit_of_work(engine) as uow:
            switch = uow.db.get(ModeSwitch, sid)
            if switch is None or switch.tenant_id != tenant_id or switch.to_mode != target:
                return SwitchOutcome(ok=False, target=target, message="Preview the switch first, then apply it.")
            mode_switch.start(uow.db, switch=switch, actor=actor)
            ids = mode_switch.enqueue_all(uow.db, switch=switch)
            for session_id in ids:
                uow.enqueue_session(session_id)
    except mode_switch.ModeSwitchError as exc:
        return SwitchOutcome(ok=False, target=target, message=str(exc).split(": ", 1)[-1])
    return SwitchOutcome(
        ok=True,
        target=target,
        switch_id=switch_id,
        message=f"Switch to {target} mode started: {len(ids)} session(s) are being moved. Progress is shown below.",
    )


def switch_status(settings: Settings, tenant: Tenant) -> SwitchStatus:
    """The tenant's latest switch; a running one has its progress recomputed from the bindings first."""
    engine = get_engine(settings)
    with Session(engine) as db:
        latest = db.exec(
            select(ModeSwitch).where(ModeSwitch.tenant_id == tenant.id).order_by(col(ModeSwitch.created_at).desc())
        ).first()
    if latest is not None and latest.status == ModeSwitchStatus.RUNNING.value:
        latest = mode_switch.refresh_progress(engine, switch_id=latest.id)
    return SwitchStatus(latest=latest)
