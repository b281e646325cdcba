"""Demo steps for organizer delegation: Google credentials from the emulator, and a delegation-mode tenant.

Where it sits: two steps of ``muster demo`` (:data:`engine.demo.main.STEPS`):

* :func:`emulator_credentials` (after the emulator starts, before settings are built): fetches Muster's
  service-account JSON key from the emulator's control API and registers an OAuth client whose redirect
  URI is this demo's callback, then hands both to :func:`engine.demo.main.configure` through ``ctx.env``
  (``MUSTER_GOOGLE_SERVICE_ACCOUNT_FILE``, ``MUSTER_GOOGLE_OAUTH_CLIENT_ID``/``_SECRET``). It also lets the
  service account act for Muster's own vendor owner accounts (vendor mode) as a real vendor's Workspace
  admin would, if the seed did not.
* :func:`delegation_tenant` (after the catalog was ingested): a second tenant, ``acme-delegated``, set up
  through the CLI (``muster tenant create`` with delegation mode, domain-wide delegation and the Directory
  admin; ``muster tenant set`` and ``muster tenant key --replace`` on later runs), receives the catalog's
  sessions that want Meet or a room, with their learners, through the REST API; the in-process worker
  syncs them onto each organizer's own calendar with unique Meet links and booked rooms. The vendor-mode
  tenant ``acme`` gets only the other sessions, so no session exists in both tenants and nobody (host or
  learner) sees one twice. The summary lists a few of them once synced.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import TYPE_CHECKING, Any

import httpx
from sqlmodel import Session, col, select

from engine.demo.cli import last_line, muster, tenant_exists
from engine.demo.context import DEMO_KEY_NAME
from engine.ingest.tenants import get_tenant
from engine.private_files import make_folder, write_private
from engine.store.models import CalendarBinding, DelegationMethod, LiveSession

if TYPE_CHECKING:
    from engine.demo.context import DemoContext

DELEGATED_SLUG = "acme-delegated"
OAUTH_CLIENT_ID = "muster-demo.apps.googleusercontent.com"
OAUTH_CLIENT_SECRET = "muster-demo-oauth-secret"  # an emulator-only client; not a real secret
CALENDAR_SCOPE = "https://www.googleapis.com/auth/calendar"
#: How long the summary waits for the worker to sync the delegated sessions.
SYNC_WAIT_S = 30.0


def _control(ctx: DemoContext, method: str, path: str, **kw: Any) -> Any:
    url = ctx.emulator.url.rstrip("/") + "/_emulator/" + path.lstrip("/")
    resp = httpx.request(method, url, timeout=30, **kw)
    if resp.status_code >= 300:
        from engine.demo.context import DemoError

        raise DemoError(f"the emulator refused {method} {path}: HTTP {resp.status_code} {resp.text[:200]}")
    return resp.json()


def emulator_credentials(ctx: DemoContext) -> None:
    """Service-account key + OAuth client for the demo, from the emulator (see module docstring)."""
    if ctx.emulator is None:
        return
    vendor = ctx.workspace.get("vendor") or {}
    sa = (vendor.get("serviceAccount") or {}).get("client_email")
    if not sa:
        return
    key_file = ctx.var_dir / "service-account.json"
    make_folder(ctx.var_dir)
    write_private(key_file, json.dumps(_control(ctx, "GET", f"service-accounts/{sa}/key"), indent=2))
    ctx.env.setdefault("MUSTER_GOOGLE_SERVICE_ACCOUNT_FILE", str(key_file))
    _control(
        ctx,
        "POST",
        "oauth-clients",
        json=[
            {
                "client_id": OAUTH_CLIENT_ID,
                "client_secret": OAUTH_CLIENT_SECRET,
                # "Connect Google" and the admin UI's "Sign in with Google"
                "redirect_uris": [
                    f"{ctx.base_url}/oauth/google/callback",
                    f"{ctx.base_url}/admin/login/google/callback",
                ],
            }
        ],
    )
    ctx.env.setdefault("MUSTER_GOOGLE_OAUTH_CLIENT_ID", OAUTH_CLIENT_ID)
    ctx.env.setdefault("MUSTER_GOOGLE_OAUTH_CLIENT_SECRET", OAUTH_CLIENT_SECRET)
    client_id = (vendor.get("serviceAccount") or {}).get("client_id")
    if client_id and vendor.get("domain"):
        _control(
            ctx,
            "POST",
            "delegation-grants",
            json={"clientId": client_id, "customerDomain": vendor["domain"], "scopes": [CALENDAR_SCOPE]},
        )


def wants_delegation(entry: dict[str, Any]) -> bool:
    """A catalog session that needs delegation mode: a Meet link or a room (vendor mode can make neither)."""
    return entry.get("video") == "meet" or bool(entry.get("room"))


def delegation_tenant(ctx: DemoContext) -> None:
    """Create ``acme-delegated`` (delegation mode, domain-wide) and send it the Meet/room sessions."""
    if ctx.settings is None or ctx.settings.google_service_account_file is None:
        return
    info = ctx.catalog.get("tenant") or {}
    domain = info.get("domain") or ctx.workspace.get("customerDomain")
    admin = next((u["primaryEmail"] for u in ctx.workspace.get("users", []) if u.get("isAdmin")), None)
    setup = ["--delegation-method", DelegationMethod.DOMAIN_WIDE.value]
    setup += ["--directory-admin", admin] if admin else []
    if not tenant_exists(ctx, DELEGATED_SLUG):
        name = f"{info.get('name', 'Acme')} (delegated)"
        out = muster(ctx, "tenant", "create", "--slug", DELEGATED_SLUG, "--name", name,
                     *(["--domain", str(domain)] if domain else []), "--mode", "delegation", *setup,
                     "--key-name", DEMO_KEY_NAME)
    else:
        muster(ctx, "tenant", "set", "--slug", DELEGATED_SLUG, *setup)
        out = muster(ctx, "tenant", "key", "--slug", DELEGATED_SLUG, "--name", DEMO_KEY_NAME, "--replace")
    key = last_line(out)
    with Session(ctx.db_engine) as db:
        tenant = get_tenant(db=db, slug=DELEGATED_SLUG)
        assert tenant is not None
        tenant_id = tenant.id
    sessions = [s for s in ctx.catalog.get("sessions") or [] if wants_delegation(s)]
    transport: httpx.AsyncBaseTransport | None = None
    if ctx.web is None:
        from engine.api.app import create_api

        transport = httpx.ASGITransport(app=create_api(ctx.settings, engine=ctx.db_engine))

    async def send_all() -> int:
        ok = 0
        async with httpx.AsyncClient(
            transport=transport, base_url=ctx.base_url, timeout=60, headers={"Authorization": f"Bearer {key}"}
        ) as client:
            for entry in sessions:
                resp = await client.put(f"/v1/sessions/{entry['externalId']}", json=entry)
                ok += resp.status_code in (200, 201)
        return ok

    sent = asyncio.run(send_all())
    ctx.notes.append(
        f"Tenant '{DELEGATED_SLUG}' (delegation mode, domain-wide delegation): {sent} sessions with "
        "Meet or a room, each on its organizer's own calendar ('acme' has the other sessions: none is in both)."
    )
    if ctx.web is not None:
        _report(ctx, tenant_id, sent)


def _report(ctx: DemoContext, tenant_id: Any, expected: int) -> None:
    deadline = time.monotonic() + SYNC_WAIT_S
    rows: list[tuple[LiveSession, CalendarBinding]] = []
    while time.monotonic() < deadline:
        with Session(ctx.db_engine) as db:
            rows = list(
                db.exec(
                    select(LiveSession, CalendarBinding).where(
                        LiveSession.tenant_id == tenant_id, col(CalendarBinding.session_id) == LiveSession.id
                    )
                ).all()
            )
        settled = [
            b
            for _, b in rows
            if b.sync_status != "pending" and b.meet_status != "pending" and b.room_status != "needsAction"
        ]
        if len(rows) >= expected and len(settled) == len(rows):
            break
        time.sleep(0.5)
    meet = [(s, b) for s, b in rows if b.meet_link]
    rooms = [(s, b) for s, b in rows if b.room_email]
    ctx.notes.append(
        f"  synced so far: {sum(b.sync_status == 'synced' for _, b in rows)}/{expected}; "
        f"{len(meet)} with a Meet link, {len(rooms)} with a room"
    )
    shown = {s.id: (s, b) for s, b in meet[:2] + rooms[:2]}
    for s, b in shown.values():
        ctx.notes.append(
            f"  {s.external_id} {s.title!r} on {b.owner_email}: "
            f"{b.meet_link or 'no Meet'}; room {b.room_name or b.room_email or '-'} ({b.room_status or '-'})"
        )
    blocked = [(s, b) for s, b in rows if b.sync_status == "blocked"]
    for s, b in blocked[:2]:
        ctx.notes.append(f"  {s.external_id} waits: {b.last_error}")
