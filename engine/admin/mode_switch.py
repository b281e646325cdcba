"""Switching a tenant between vendor and delegation mode: preview, apply, progress; one service for every
interface.

Where it sits: the Integration page (:mod:`admin_ui.views.integration`), the admin REST API
(``/v1/admin/mode-switch``, :mod:`engine.api.routes.admin`) and ``muster tenant switch-mode``
(:mod:`engine.cli.mode_switch`) all call these, so the plan, the verdict and every refusal are the same
wherever the admin asks. The work is done by the engine's mode-switch module
(:mod:`engine.delegation.mode_switch`), which records each switch as a :class:`~engine.store.models.ModeSwitch`
row: a preview stores the plan and changes nothing in Google; applying needs the preview's id and the
target mode typed again as confirmation, flips the mode and enqueues each session after the commit; the
worker moves the events and progress is read back from the latest row.
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
from engine.store.unit_of_work import Dispatcher, get_engine, unit_of_work


@dataclass
class SwitchOutcome:
    ok: bool
    message: str
    target: str = ""
    plan: list[dict[str, Any]] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)
    switch_id: str | None = None
    #: The input at fault when ``ok`` is False (``target_mode``, ``confirm``, ``switch_id``).
    field: str = "target_mode"


@dataclass
class SwitchStatus:
    latest: ModeSwitch | None = None  #: the latest ModeSwitch row, if any

    def describe(self) -> dict[str, Any] | None:
        """The latest switch as plain JSON (REST and the CLI): its id, plan counts and progress."""
        if self.latest is None:
            return None
        return {"switch_id": str(self.latest.id), **mode_switch.summary(self.latest),
                "created_at": self.latest.created_at.isoformat(), "requested_by": self.latest.requested_by}


def _field(exc: mode_switch.ModeSwitchError) -> str:
    return {"target": "target_mode", "switch": "switch_id"}.get(exc.field, exc.field)


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
        return SwitchOutcome(ok=False, target=target, message=str(exc).split(": ", 1)[-1], field=_field(exc))
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
    dispatcher: Dispatcher | None = None,
) -> SwitchOutcome:
    """Start the previewed switch: flip the mode and enqueue each session; the worker moves the events.

    Progress is read back with :func:`switch_status` (refreshed from the bindings on each page view).
    """
    if confirm.strip().lower() != target:
        return SwitchOutcome(
            ok=False, target=target, field="confirm",
            message=f"Type {target} in the confirmation box (confirm={target!r}) to apply the switch.",
        )
    try:
        sid = uuid.UUID(switch_id)
    except ValueError:
        return SwitchOutcome(ok=False, target=target, field="switch_id",
                                 message="Preview the switch first, then apply it (with the preview's switch id).")
    try:
        with unit_of_work(engine, dispatcher=dispatcher) as uow:
            switch = uow.db.get(ModeSwitch, sid)
            if switch is None or switch.tenant_id != tenant_id or switch.to_mode != target:
                return SwitchOutcome(ok=False, target=target, field="switch_id",
                                 message="Preview the switch first, then apply it (with the preview's switch id).")
            if switch.status == ModeSwitchStatus.DONE.value:  # applied again (a retried request): nothing to do
                return SwitchOutcome(ok=True, target=target, switch_id=switch_id, summary=mode_switch.summary(switch),
                                     message=f"This switch to {target} mode is already done: {switch.done} of "
                                     f"{switch.total} session(s) moved.")
            mode_switch.start(uow.db, switch=switch, actor=actor)
            ids = mode_switch.enqueue_all(uow.db, switch=switch)
            for session_id in ids:
                uow.enqueue_session(session_id)
    except mode_switch.ModeSwitchError as exc:
        return SwitchOutcome(ok=False, target=target, message=str(exc).split(": ", 1)[-1], field=_field(exc))
    return SwitchOutcome(
        ok=True,
        target=target,
        switch_id=switch_id,
        message=f"Switch to {target} mode started: {len(ids)} session(s) are being moved. Progress is shown below.",
    )


def switch_status(settings: Settings, tenant: Tenant, *, engine: Engine | None = None) -> SwitchStatus:
    """The tenant's running switch, else its latest one (a later preview does not hide a switch in progress);
    a running or paused one has its progress recomputed from the bindings first (a paused switch whose
    sessions all moved since is done)."""
    engine = engine or get_engine(settings)
    with Session(engine) as db:
        latest = db.exec(
            select(ModeSwitch)
            .where(ModeSwitch.tenant_id == tenant.id)
            .order_by(col(ModeSwitch.status) != ModeSwitchStatus.RUNNING.value, col(ModeSwitch.created_at).desc())
        ).first()
    if latest is not None and latest.status in (ModeSwitchStatus.RUNNING.value, ModeSwitchStatus.PAUSED.value):
        latest = mode_switch.refresh_progress(engine, switch_id=latest.id)
    return SwitchStatus(latest=latest)
