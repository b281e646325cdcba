"""The Integration page's live facts: set-up values to paste into Google, and the "Test connection" run.

Where it sits: :mod:`admin_ui.views.integration` calls these; they use :mod:`engine.admin.connection_check` (the same
check as ``muster check``) and the settings. A misconfigured key is shown as a set-up problem, not a 500.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.engine import Engine

from engine.admin.connection_check import ADMIN_CONSOLE
from engine.admin.tenant_setup import admin_console_scopes
from engine.runtime.wiring import check_tenant
from engine.settings import ConfigError, Settings, read_service_account_key
from engine.store.models import Tenant
from engine.store.unit_of_work import network_session


@dataclass
class SetupFacts:
    client_id: str | None
    service_account_email: str | None
    key_problem: str | None
    scopes: list[str]
    admin_console_path: str
    oauth_configured: bool
    delegation_method: str
    vendor_owner_emails: list[str] = field(default_factory=list)
    directory_admin_email: str | None = None


def setup_facts(settings: Settings, tenant: Tenant) -> SetupFacts:
    scopes = list(admin_console_scopes())
    console = ADMIN_CONSOLE
    client_id = sa_email = problem = None
    if settings.google_service_account_file is not None:
        try:
            info = read_service_account_key(settings.google_service_account_file)
            client_id, sa_email = info.get("client_id"), info.get("client_email")
        except ConfigError as exc:
            problem = str(exc)
    else:
        problem = "No service account key is configured (MUSTER_GOOGLE_SERVICE_ACCOUNT_FILE)."
    return SetupFacts(
        client_id=client_id,
        service_account_email=sa_email,
        key_problem=problem,
        scopes=scopes,
        admin_console_path=console,
        oauth_configured=bool(settings.google_oauth_client_id),
        delegation_method=str(getattr(tenant, "delegation_method", "oauth")),
        vendor_owner_emails=list(tenant.vendor_owner_emails),
        directory_admin_email=tenant.directory_admin_email,
    )


@dataclass
class CheckView:
    ok: bool = False
    steps: list[dict[str, Any]] = field(default_factory=list)
    message: str = ""
    method: str | None = None


def run_check(settings: Settings, engine: Engine, tenant_id: uuid.UUID) -> CheckView:
    with network_session(engine) as db:  # each step calls Google: no transaction is held meanwhile
        report = check_tenant(db, tenant_id, settings)
        db.commit()  # the check may record when connections were last verified
    data = report.as_dict()
    return CheckView(
        ok=bool(data["ok"]),
        steps=list(data["steps"]),
        method=data.get("method"),
        message="All steps passed." if data["ok"] else "Some steps failed: see each fix below.",
    )
