"""Demo step: admin UI accounts for the demo tenants, with the credentials printed in the summary.

Where it sits: one of :data:`engine.demo.main.STEPS` (after the tenants are seeded). For each demo tenant it
makes the sample Workspace's administrator (the ``isAdmin`` user of ``acme-workspace.json``) an admin of
the tenant, and gives the organizer of the catalog's first session a password, through
:func:`engine.admin.accounts.set_password` (the same path as ``muster user set-password``). The password
is fresh on every run and printed once; it exists only in the local demo database.
"""

from __future__ import annotations

import secrets
from typing import Any

from sqlmodel import col, select

from engine.admin.accounts import set_password
from engine.admin.roles import AdminRole
from engine.store.models import Person, Tenant
from engine.store.unit_of_work import unit_of_work


def _admin_user(workspace: dict[str, Any]) -> dict[str, Any] | None:
    return next((u for u in workspace.get("users", []) if u.get("isAdmin")), None)


def _first_organizer(catalog: dict[str, Any]) -> str | None:
    sessions = sorted(catalog.get("sessions") or [], key=lambda s: str(s.get("start", "")))
    return str(sessions[0]["organizer"]).lower() if sessions and sessions[0].get("organizer") else None


def ui_accounts(ctx: Any) -> None:
    """Give the demo tenants an admin and an organizer who can sign in; add their credentials to the notes."""
    admin = _admin_user(ctx.workspace)
    organizer = _first_organizer(ctx.catalog)
    if admin is None and organizer is None:
        return
    password = "demo-" + secrets.token_urlsafe(9)
    slugs: list[str] = []
    with unit_of_work(ctx.db_engine) as uow:
        for tenant in uow.db.exec(select(Tenant).order_by(col(Tenant.slug))).all():
            if admin is not None:
                email = str(admin["primaryEmail"]).lower()
                exists = uow.db.exec(select(Person).where(Person.tenant_id == tenant.id, Person.email == email)).first()
                if exists is None:
                    name = admin.get("name") or {}
                    uow.db.add(
                        Person(
                            tenant_id=tenant.id,
                            email=email,
                            display_name=str(name.get("fullName") or "Workspace admin"),
                            admin_role=AdminRole.ADMIN.value,
                        )
                    )
                    uow.db.flush()
                set_password(
                    db=uow.db, tenant_slug=tenant.slug, email=email, password=password, role=AdminRole.ADMIN.value
                )
            if organizer is not None:
                has_person = uow.db.exec(
                    select(Person).where(Person.tenant_id == tenant.id, Person.email == organizer)
                ).first()
                if has_person is not None:
                    set_password(
                        db=uow.db,
                        tenant_slug=tenant.slug,
                        email=organizer,
                        password=password,
                        role=has_person.admin_role or AdminRole.ORGANIZER.value,
                    )
            slugs.append(tenant.slug)
    ctx.notes.append(f"Admin UI sign-in (tenants: {', '.join(slugs)}; password for both: {password}):")
    if admin is not None:
        ctx.notes.append(f"  admin:     {str(admin['primaryEmail']).lower()}")
    if organizer is not None:
        ctx.notes.append(f"  organizer: {organizer}")
    if ctx.env.get("MUSTER_GOOGLE_OAUTH_CLIENT_ID"):
        ctx.notes.append("  or: Sign in with Google (workspace acme), then pick that account on the emulator's page")
