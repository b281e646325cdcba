"""``muster report spof [--tenant SLUG]`` and ``muster lifecycle sweep [--tenant SLUG]``.

Where it sits: a CLI extension loaded by :mod:`engine.cli.main`. The work is :func:`engine.lifecycle.spof.
spof_report` (sessions whose only connected organizer is leaving or suspended) and
:func:`engine.lifecycle.run.sweep` (Directory scan plus every due transfer, the same pass the worker runs
periodically). Both print one line per item and exit 0; an unknown tenant slug is a usage error.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

import click
from sqlmodel import Session, select

from engine.settings import get_settings
from engine.store.models import Tenant
from engine.store.unit_of_work import get_engine


def _tenant_id(db: Session, slug: str | None) -> uuid.UUID | None:
    if slug is None:
        return None
    tenant = db.exec(select(Tenant).where(Tenant.slug == slug)).first()
    if tenant is None:
        raise click.BadParameter(f"no tenant {slug!r}; `muster tenant list` shows the slugs",
                                 param_hint="--tenant")
    return tenant.id


@click.group("report")
def report_group() -> None:
    """Reports for administrators."""


@report_group.command("spof")
@click.option("--tenant", "tenant_slug", default=None, help="Only this tenant (slug); default: all.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def spof_command(tenant_slug: str | None, as_json: bool) -> None:
    """Upcoming sessions whose only connected organizer is leaving or suspended.

    A tenant whose stored successor rules the schema refuses is one error line naming the setting and the
    fix (exit status 1); the other tenants are still reported."""
    from engine.errors import TenantSettingInvalid
    from engine.lifecycle.spof import report_tenants, spof_report

    rows, problems = [], []
    with Session(get_engine(get_settings())) as db:
        for tenant_id in report_tenants(db=db, tenant_id=_tenant_id(db, tenant_slug)):
            try:
                rows.extend(spof_report(db=db, now=datetime.now(UTC), tenant_id=tenant_id))
            except TenantSettingInvalid as exc:
                problems.append(str(exc))
    if as_json:
        click.echo(json.dumps({"sessions": [r.as_json() for r in rows], "count": len(rows), "errors": problems},
                              indent=2))
    elif not rows and not problems:
        click.echo("No single point of failure: every upcoming session has a co-host who can take over.")
    else:
        for r in rows:
            who = f"{r.owner_email} ({r.owner_status}{', last day ' + str(r.leaving_on) if r.leaving_on else ''})"
            then = f"-> fallback owner {r.successor_email}" if r.outcome == "fallback" else f"BLOCKED: {r.needed}"
            when = f"{r.start_at:%Y-%m-%d %H:%M}Z"
            click.echo(f"{r.tenant_slug}\t{when}\t{r.external_id}\t{r.title}\t{who}\t{then}")
        click.echo(f"{len(rows)} session(s)")
    for line in problems:
        click.echo(f"error: {line}", err=True)
    if problems:
        raise SystemExit(1)


@click.group("lifecycle")
def lifecycle_group() -> None:
    """Organizer lifecycle: detect departures and transfer their events."""


@lifecycle_group.command("sweep")
@click.option("--tenant", "tenant_slug", default=None, help="Only this tenant (slug); default: all.")
@click.option("--no-scan", is_flag=True, help="Skip the Directory scan; only run due transfers.")
def sweep_command(tenant_slug: str | None, no_scan: bool) -> None:
    """Scan the Directory for suspended/deleted organizers and run every due transfer now."""
    from engine.lifecycle.run import sweep
    from engine.runtime.wiring import lifecycle_wiring

    settings = get_settings()
    engine = get_engine(settings)
    with Session(engine) as db:
        tenant_id = _tenant_id(db, tenant_slug)
    report = sweep(engine, lifecycle_wiring(settings, engine), now=datetime.now(UTC), tenant_id=tenant_id,
                   scan=not no_scan)
    for slug, scan in report.scans.items():
        click.echo(f"{slug}: Directory scan: {len(scan.suspended)} newly suspended, {len(scan.deleted)} "
                   f"newly deleted, {len(scan.returned)} back")
    for t in report.transfers:
        for s in t.sessions:
            target = s.successor or "-"
            click.echo(f"{t.email}\t{s.outcome}\t{s.path or '-'}\t{target}\t{s.title}"
                       + (f"\t{s.note}" if s.note else ""))
    for err in report.errors:
        click.echo(f"error: {err}", err=True)
    if not report.transfers:
        click.echo("No transfer due.")


def register(group: click.Group) -> None:
    group.add_command(report_group)
    group.add_command(lifecycle_group)
