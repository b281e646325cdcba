"""``muster webhooks log [--tenant SLUG] [--status S] [--limit N] [--json]`` and ``muster webhooks replay ID``.

Where it sits: a CLI extension loaded by :mod:`engine.cli.main`. The log is :func:`engine.webhooks.outbox.
recent` and the replay :func:`engine.webhooks.outbox.replay` (audited ``webhook.replayed``, actor ``cli``):
the same functions the admin UI's Webhooks page and ``/v1/admin/webhooks/deliveries`` call. A replay is
sent by a worker's delivery clock within a second (same body, same idempotency key). An unknown tenant,
status or delivery is a usage error naming the option (exit status 2).
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import click
from sqlmodel import Session, select

from engine.cli.lifecycle import _tenant_id
from engine.settings import get_settings
from engine.store.models import Tenant, WebhookDelivery, WebhookStatus
from engine.store.unit_of_work import get_engine, unit_of_work
from engine.webhooks import outbox

STATUSES = [s.value for s in WebhookStatus]


def _json(row: WebhookDelivery, slug: str | None) -> dict[str, Any]:
    def iso(value: Any) -> str | None:
        return value.isoformat() if value is not None else None

    return {
        "id": str(row.id), "tenant": slug, "type": row.event_type, "status": row.status,
        "attempts": row.attempts, "created_at": iso(row.created_at),
        "next_attempt_at": iso(row.next_attempt_at) if row.status == WebhookStatus.PENDING.value else None,
        "last_attempt_at": iso(row.last_attempt_at), "last_status_code": row.last_status_code,
        "last_error": row.last_error, "delivered_at": iso(row.delivered_at),
        "session_id": str(row.session_id) if row.session_id else None,
    }


@click.group("webhooks")
def webhooks_group() -> None:
    """Webhooks to the platform: the delivery log, and replaying a delivery."""


@webhooks_group.command("log")
@click.option("--tenant", "tenant_slug", default=None, help="Only this tenant (slug); default: all.")
@click.option("--status", type=click.Choice(STATUSES), default=None, help="Only deliveries in this status.")
@click.option("--limit", type=click.IntRange(1, 10_000), default=50, show_default=True, help="Newest N.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON (bodies left out).")
def log_command(tenant_slug: str | None, status: str | None, limit: int, as_json: bool) -> None:
    """The webhook deliveries, newest first: status, attempts, the platform's last answer, the error."""
    with Session(get_engine(get_settings())) as db:
        tenant_id = _tenant_id(db, tenant_slug)
        rows = outbox.recent(db=db, tenant_id=tenant_id, limit=limit, status=status)
        slugs = {t.id: t.slug for t in db.exec(select(Tenant)).all()}
    if as_json:
        click.echo(json.dumps({"deliveries": [_json(r, slugs.get(r.tenant_id)) for r in rows],
                               "count": len(rows)}, indent=2))
        return
    if not rows:
        click.echo("No webhook delivery" + (f" with status {status}" if status else "") + ".")
        return
    for r in rows:
        answer = str(r.last_status_code) if r.last_status_code is not None else "-"
        click.echo(f"{r.created_at:%Y-%m-%d %H:%M:%S}Z\t{slugs.get(r.tenant_id, '-')}\t{r.id}\t{r.event_type}\t"
                   f"{r.status}\tattempts {r.attempts}\tanswer {answer}"
                   + (f"\t{r.last_error}" if r.last_error else ""))
    click.echo(f"{len(rows)} deliver{'y' if len(rows) == 1 else 'ies'}"
               + ("; `muster webhooks replay ID` sends one again" if any(r.status != "delivered" for r in rows)
                  else ""))


@webhooks_group.command("replay")
@click.argument("delivery_id")
@click.option("--tenant", "tenant_slug", default=None, help="The delivery's tenant (slug), checked if given.")
def replay_command(delivery_id: str, tenant_slug: str | None) -> None:
    """Send delivery ID again: same body, same idempotency key (Muster-Webhook-Id), attempts from zero."""
    try:
        key = uuid.UUID(delivery_id)
    except ValueError:
        raise click.BadParameter(f"{delivery_id!r} is not a delivery id; `muster webhooks log` lists them",
                                 param_hint="ID") from None
    with unit_of_work(get_engine(get_settings())) as uow:
        wanted = _tenant_id(uow.db, tenant_slug)
        row = uow.db.get(WebhookDelivery, key)
        if row is None or (wanted is not None and row.tenant_id != wanted):
            where = f" of tenant {tenant_slug!r}" if wanted is not None else ""
            raise click.BadParameter(f"no webhook delivery {key}{where}; `muster webhooks log` lists them",
                                     param_hint="ID")
        was = row.status
        outbox.replay(db=uow.db, tenant_id=row.tenant_id, delivery_id=key, actor="cli")
    click.echo(f"Delivery {key} ({was}) will be sent again within a second by a worker (same id).")


def register(group: click.Group) -> None:
    group.add_command(webhooks_group)
