"""``muster demo``: the whole product on one laptop, seeded with the sample customer.

Where it sits: called by :mod:`engine.cli.main`. It runs on the embedded defaults (SQLite under ``var/demo``,
the in-process worker, no Redis) and the Google Workspace emulator started in this process, seeded from
``../shared/data/acme-workspace.json``. The catalog (``acme-catalog.json``) is ingested through the REST
API's own code path (HTTP requests to the ASGI app), exactly as a learning platform would send it.

The demo is a list of small steps (:data:`STEPS`), each taking the shared :class:`DemoContext`; a step
may add lines to the closing summary (``ctx.notes``) and clean-up callbacks (``ctx.cleanups``). New
steps (a service-account key for the emulator, a delegation-mode tenant, ...) are added to the list with
:func:`add_step`. The web app (``admin_ui.web:create_web_app``, which also runs the in-process sync
worker) is started before the catalog is ingested, so the sessions sync right away, and it serves until
Ctrl-C. With ``exit_after_seed`` nothing is served: the catalog goes straight to the ASGI app and the
process exits (sessions stay ``pending`` until the next ``muster demo`` or ``muster serve``).
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from collections.abc import Callable
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import inspect
from sqlmodel import SQLModel

from engine.demo import accounts as demo_accounts
from engine.demo import delegation as demo_delegation
from engine.demo import lifecycle as demo_lifecycle
from engine.demo.cli import last_line, muster, tenant_exists
from engine.demo.context import (
    CATALOG_FILE,
    DEMO_KEY_NAME,
    WORKSPACE_FILE,
    DemoContext,
    DemoError,
    Step,
)
from engine.demo.sync import wait_for_sync
from engine.settings import load_settings

log = logging.getLogger(__name__)

def _read_json(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise DemoError(
            f"{path} is missing: the demo needs the sample data in ../shared/data beside the "
            "repository (a clone of the shared data next to this checkout)"
        )
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise DemoError(f"{path} is not valid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise DemoError(f"{path} should hold a JSON object")
    return data


def load_data(ctx: DemoContext) -> None:
    """Read the workspace and catalog files (clear error when they are missing)."""
    ctx.workspace = _read_json(ctx.data_dir / WORKSPACE_FILE)
    ctx.catalog = _read_json(ctx.data_dir / CATALOG_FILE)


def start_emulator(ctx: DemoContext) -> None:
    """Start the Google Workspace emulator in this process, seeded with the workspace file."""
    from connectors.google_emulator.server import EmulatorServer

    try:
        server = EmulatorServer(seed=ctx.data_dir / WORKSPACE_FILE, port=ctx.emulator_port).start()
    except OSError as exc:
        raise DemoError(
            f"cannot start the emulator on port {ctx.emulator_port}: {exc}; pick another with --emulator-port"
        ) from None
    except ValueError as exc:  # the seed loader's SeedError
        raise DemoError(f"the workspace seed is invalid: {exc}") from None
    ctx.emulator = server
    ctx.cleanups.append(server.stop)


def configure(ctx: DemoContext) -> None:
    """Settings for the demo: SQLite under ``var_dir``, embedded worker, Google = the emulator, webhooks to a
    receiver on this machine allowed (``MUSTER_WEBHOOKS_ALLOW_LOOPBACK=1``)."""
    ctx.var_dir.mkdir(parents=True, exist_ok=True)
    env = {
        "MUSTER_VAR_DIR": str(ctx.var_dir),
        "MUSTER_DATABASE_URL": f"sqlite:///{(ctx.var_dir / 'muster.db').resolve()}",
        "MUSTER_BASE_URL": ctx.base_url,
        # the demo runs on one machine: a webhook receiver on it (http://127.0.0.1:...) is what one tries
        "MUSTER_WEBHOOKS_ALLOW_LOOPBACK": "1",
    }
    if ctx.emulator is not None:
        env["MUSTER_GOOGLE_ROOT_URL"] = ctx.emulator.url
    env.update(ctx.env)
    ctx.settings = load_settings(env)
    ctx.cli_env = env  # the `muster` commands the set-up steps run see exactly this configuration


def prepare_database(ctx: DemoContext) -> None:
    """A fresh demo database gets the current schema and is stamped at the latest migration (the
    recipe in Alembic's cookbook); an existing one is upgraded through the migrations."""
    from engine.store.migrations import stamp_head, upgrade_head

    engine = ctx.db_engine
    assert ctx.settings is not None
    if inspect(engine).has_table("tenant"):
        upgrade_head(ctx.settings)
    else:
        SQLModel.metadata.create_all(engine)
        stamp_head(ctx.settings)


def _owners(ctx: DemoContext) -> list[str]:
    owners = list((ctx.workspace.get("vendor") or {}).get("ownerAccounts") or [])
    if not owners:
        raise DemoError(f"{WORKSPACE_FILE} lists no vendor.ownerAccounts; vendor mode needs at least one")
    return owners


def ensure_demo_tenant(ctx: DemoContext) -> None:
    """The catalog's tenant in vendor mode, through the CLI as a customer sets one up: ``muster tenant create``
    on the first run, ``muster tenant set`` and a fresh ``muster tenant key --replace`` on the next ones."""
    info = ctx.catalog.get("tenant") or {}
    owner_args = [arg for owner in _owners(ctx) for arg in ("--vendor-owner", owner)]
    fallback = ["--fallback-owner", str(info["fallbackCalendarOwner"])] if info.get("fallbackCalendarOwner") else []
    slug = ctx.tenant_slug
    if not tenant_exists(ctx, slug):
        domain = ["--domain", str(info["domain"])] if info.get("domain") else []
        out = muster(ctx, "tenant", "create", "--slug", slug, "--name", str(info.get("name", "Acme")), *domain,
                     "--mode", "vendor", *owner_args, *fallback, "--key-name", DEMO_KEY_NAME)
    else:
        muster(ctx, "tenant", "set", "--slug", slug, *owner_args, *fallback)
        out = muster(ctx, "tenant", "key", "--slug", slug, "--name", DEMO_KEY_NAME, "--replace")
    ctx.api_key = last_line(out)


#: The web app factory, as ``muster serve`` runs it.
WEB_APP = "admin_ui.web:create_web_app"


def start_web(ctx: DemoContext) -> None:
    """Serve the web app (REST API + admin UI, which also runs the in-process sync worker) in a thread,
    so the catalog below is ingested over real HTTP and synced at once. Skipped with ``exit_after_seed``."""
    if ctx.exit_after_seed:
        return
    import uvicorn

    assert ctx.settings is not None
    app = _web_factory()(ctx.settings, start_worker=True)
    config = uvicorn.Config(app, host=ctx.host, port=ctx.port, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="muster-demo-web", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            raise DemoError(
                f"the web app could not start on {ctx.base_url} (is the port in use? pick another "
                "with --port)"
            )
        time.sleep(0.05)
    ctx.web = (server, thread)

    def stop() -> None:
        server.should_exit = True
        thread.join(timeout=15)

    ctx.cleanups.append(stop)


def ingest_catalog(ctx: DemoContext) -> None:
    """PUT every catalog session through the REST API (same validation, same after-commit enqueue):
    over HTTP to the running web app, or straight to the ASGI app when not serving."""
    from engine.api.app import create_api

    assert ctx.settings is not None and ctx.api_key is not None
    sessions = vendor_sessions(ctx)
    transport: httpx.AsyncBaseTransport | None = None
    if ctx.web is None:
        transport = httpx.ASGITransport(app=create_api(ctx.settings, engine=ctx.db_engine))

    async def send_all() -> list[str]:
        problems: list[str] = []
        headers = {"Authorization": f"Bearer {ctx.api_key}"}
        async with httpx.AsyncClient(
            transport=transport, base_url=ctx.base_url, headers=headers, timeout=60
        ) as client:
            for entry in sessions:
                external_id = str(entry.get("externalId", ""))
                resp = await client.put(f"/v1/sessions/{external_id}", json=entry)
                if resp.status_code not in (200, 201):
                    problems.append(f"{external_id}: HTTP {resp.status_code} {resp.text[:300]}")
        return problems

    problems = asyncio.run(send_all())
    if problems:
        raise DemoError("the catalog was not accepted by the REST API:\n  " + "\n  ".join(problems))
    ctx.ingested = len(sessions)


def vendor_sessions(ctx: DemoContext) -> list[dict[str, Any]]:
    """The catalog's sessions the vendor-mode tenant syncs: those that want neither Meet nor a room. The others
    go to the delegation-mode tenant (:mod:`engine.demo.delegation`), so the two tenants never hold the same
    session and nobody in the shared Workspace sees one twice."""
    return [s for s in ctx.catalog.get("sessions") or [] if not demo_delegation.wants_delegation(s)]


def _monday(day: date) -> date:
    return day - timedelta(days=day.weekday())


def summarize(ctx: DemoContext) -> None:
    """Lines telling where to look: API docs, admin UI, emulator calendars, the API key."""
    sessions = sorted(ctx.catalog.get("sessions") or [], key=lambda s: str(s.get("start", "")))
    ctx.notes.insert(0, f"Tenant '{ctx.tenant_slug}': {ctx.ingested} sessions ingested through the REST API.")
    ctx.notes.insert(0, "Set up as a customer would: `muster tenant create` (then `tenant set` and `tenant key "
                        "--replace` on later runs) and `muster user add`; see the README's walkthroughs.")
    ctx.notes += [
        f"REST API docs:   {ctx.base_url}/docs",
        f"Admin UI:        {ctx.base_url}/admin/",
        f"API key:         {ctx.api_key}   (shown once; stored hashed)",
        f"  try: curl -H 'Authorization: Bearer {ctx.api_key}' {ctx.base_url}/v1/sessions?limit=5",
    ]
    if ctx.emulator is not None and sessions:
        first = sessions[0]
        week = _monday(datetime.fromisoformat(str(first["start"])).date()).isoformat()
        learner = next(
            (e["email"] for e in first.get("enrollments", []) if e.get("status") == "enrolled"), None
        )
        emu = ctx.emulator.url.rstrip("/")
        ctx.notes.append(f"Emulator:        {emu}/_emulator/")
        ctx.notes.append(f"  organizer's calendar: {emu}/_emulator/calendar/{first['organizer']}?week={week}")
        if learner:
            ctx.notes.append(f"  learner's calendar:   {emu}/_emulator/calendar/{learner}?week={week}")


#: The demo, in order. Steps are small so features can add theirs with :func:`add_step`.
STEPS: list[Step] = [
    load_data,
    start_emulator,
    demo_delegation.emulator_credentials,
    configure,
    prepare_database,
    ensure_demo_tenant,
    start_web,
    ingest_catalog,
    demo_delegation.delegation_tenant,
    demo_accounts.ui_accounts,
    demo_lifecycle.suspend_and_transfer,
]


def add_step(step: Step, *, after: Step | None = None) -> None:
    """Insert ``step`` after ``after`` (default: at the end, before the summary)."""
    if step in STEPS:
        return
    STEPS.insert(STEPS.index(after) + 1 if after is not None else len(STEPS), step)


def wait_until_interrupted(ctx: DemoContext) -> None:
    """Keep serving until Ctrl-C (or until the web server stops by itself)."""
    if ctx.web is None:
        return
    _server, thread = ctx.web
    try:
        while thread.is_alive():
            thread.join(timeout=0.5)
    except KeyboardInterrupt:
        ctx.echo("Stopping...")


def _web_factory() -> Callable[..., Any]:
    """The web composition root, named as ``muster serve`` names it (``admin_ui.web:create_web_app``, resolved
    by uvicorn's app-reference loader): engine sits below admin_ui and must not import it."""
    from uvicorn.importer import import_from_string

    factory: Callable[..., Any] = import_from_string(WEB_APP)
    return factory


def run(ctx: DemoContext, *, exit_after_seed: bool = False) -> DemoContext:
    """Run every step, print the summary, then serve until interrupted (unless ``exit_after_seed``)."""
    ctx.exit_after_seed = exit_after_seed
    # The demo's workspace has a deliberately suspended organizer: Muster reports each refusal in one line
    # (engine.sync.reconciler); the Google client's own warning about the same 403, and the per-call line of
    # the composition root (kept for operators' logs, counted in the metrics), would be a second and a third.
    quieted = {name: logging.getLogger(name).level for name in ("googleapiclient.http", "engine.runtime.wiring")}
    for name in quieted:
        logging.getLogger(name).setLevel(logging.ERROR)
    try:
        for step in STEPS:
            log.info("demo step: %s", step.__name__)
            step(ctx)
        summarize(ctx)
        ctx.echo("\n".join(["", "Muster demo is ready.", *ctx.notes, ""]))
        if exit_after_seed:
            return ctx
        ctx.echo(f"Serving on {ctx.base_url} - press Ctrl-C to stop.")
        wait_until_interrupted(ctx)
        return ctx
    finally:
        for cleanup in reversed(ctx.cleanups):
            try:
                cleanup()
            except Exception:  # a failing clean-up must not hide the real error
                log.exception("demo clean-up failed")
        for name, level in quieted.items():  # the process's logging is as it was (the demo may run in-process)
            logging.getLogger(name).setLevel(level)


add_step(wait_for_sync, after=ingest_catalog)  # the sync engine's summary step; see engine.demo.sync
