"""Demo step: admin UI accounts for the demo tenants, with the credentials printed in the summary.

Where it sits: one of :data:`engine.demo.main.STEPS` (after the tenants are set up). For each demo tenant it
makes the sample Workspace's administrator (the ``isAdmin`` user of ``acme-workspace.json``) an admin of the
tenant, and the organizer of the catalog's first session an organizer, with ``muster user add --role ...
--password-stdin`` (the same command a customer runs; it creates the person when the tenant does not know
them yet). The password is fresh on every run and printed once; it exists only in the local demo database.
"""

from __future__ import annotations

import secrets
from typing import Any

from sqlmodel import Session, col, select

from engine.admin.roles import AdminRole
from engine.demo.cli import muster
from engine.store.models import Tenant


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
    with Session(ctx.db_engine) as db:
        slugs = list(db.exec(select(Tenant.slug).order_by(col(Tenant.slug))).all())
    people: list[tuple[str, str, str | None]] = []
    if admin is not None:
        name = (admin.get("name") or {}).get("fullName")
        people.append((str(admin["primaryEmail"]).lower(), AdminRole.ADMIN.value, name))
    if organizer is not None:
        people.append((organizer, AdminRole.ORGANIZER.value, None))
    for slug in slugs:
        for email, role, name in people:
            named = ["--name", str(name)] if name else []
            muster(ctx, "user", "add", "--tenant", slug, "--email", email, "--role", role, *named,
                   "--password-stdin", stdin=password + "\n")
    ctx.notes.append(f"Admin UI sign-in (tenants: {', '.join(slugs)}; password for both: {password}):")
    if admin is not None:
        ctx.notes.append(f"  admin:     {str(admin['primaryEmail']).lower()}")
    if organizer is not None:
        ctx.notes.append(f"  organizer: {organizer}")
    if ctx.env.get("MUSTER_GOOGLE_OAUTH_CLIENT_ID"):
        ctx.notes.append("  or: Sign in with Google (workspace acme), then pick that account on the emulator's page")
