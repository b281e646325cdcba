"""``muster feed status [--tenant SLUG] [--all] [--json]``: the change feed's state in a terminal.

Where it sits: a CLI extension loaded by :mod:`engine.cli.main`. The rows come from
:func:`engine.feed.status.feed_status`, the same function ``GET /v1/admin/feed`` and the admin UI's Health
page read: per followed calendar, its tenant, the identity that lists and watches it, whether it holds a
sync token, the last sync, the push channel and its expiry (or ``timer``), the last error and the changes
noted in Google not reconciled yet. An unknown tenant slug is a usage error (exit status 2).
"""

from __future__ import annotations

import json
from datetime import datetime

import click
from sqlmodel import Session

from engine.cli.lifecycle import _tenant_id
from engine.feed.status import FeedCalendarStatus, feed_status
from engine.settings import get_settings
from engine.store.unit_of_work import get_engine


def _when(value: datetime | None) -> str:
    return f"{value:%Y-%m-%d %H:%M:%S}Z" if value is not None else "never"


def describe(row: FeedCalendarStatus) -> list[str]:
    """The lines ``muster feed status`` prints for one calendar."""
    if row.listening == "push":
        channel = f"push channel {row.channel_id}, expires {_when(row.channel_expires_at)}"
    elif row.listening == "expired":
        channel = f"push channel {row.channel_id} EXPIRED {_when(row.channel_expires_at)} (renewed by the next pass)"
    elif row.listening == "stopped":
        channel = "not followed any more"
    else:
        channel = "timer (no push channel)"
    error = f"{row.error_class}: {row.last_error}" if row.error_class or row.last_error else "none"
    return [
        f"{row.calendar_id}  [{row.tenant_slug or '-'}]",
        f"  identity:        {row.identity}",
        f"  sync token:      {'yes' if row.has_sync_token else 'no (the next sync lists the calendar in full)'}",
        f"  last sync:       {_when(row.synced_at)} (last full listing {_when(row.full_synced_at)})",
        f"  listening:       {channel}",
        f"  last error:      {error}",
        f"  pending changes: {row.pending_changes}",
    ]


@click.group("feed")
def feed_group() -> None:
    """The change feed: the calendars Muster follows in Google."""


@feed_group.command("status")
@click.option("--tenant", "tenant_slug", default=None, help="Only this tenant (slug); default: all.")
@click.option("--all", "include_stopped", is_flag=True, help="Also the calendars no longer followed.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def status_command(tenant_slug: str | None, include_stopped: bool, as_json: bool) -> None:
    """Each calendar Muster follows: identity, sync token, last sync, push channel or timer, errors, pending."""
    with Session(get_engine(get_settings())) as db:
        rows = feed_status(db=db, tenant_id=_tenant_id(db, tenant_slug), include_stopped=include_stopped)
    if as_json:
        click.echo(json.dumps({"calendars": [r.as_json() for r in rows], "count": len(rows)}, indent=2))
        return
    if not rows:
        click.echo("No calendar followed yet: the feed follows each calendar a synced session's event is on.")
        return
    for row in rows:
        for line in describe(row):
            click.echo(line)
    failing = sum(1 for r in rows if r.error_class or r.last_error)
    click.echo(f"{len(rows)} calendar(s), {failing} with an error, "
               f"{sum(r.pending_changes for r in rows)} change(s) pending")


def register(group: click.Group) -> None:
    group.add_command(feed_group)
