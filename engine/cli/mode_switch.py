"""``muster tenant switch-mode``: switch a tenant between vendor and delegation mode from the command line.

Where it sits: a CLI extension loaded by :mod:`engine.cli.main` (it adds one command to the ``tenant``
group). It calls the same service as the Integration page's Switch mode and ``/v1/admin/mode-switch``
(:mod:`engine.admin.mode_switch`), so the plan, the verdict and every refusal are the same:

* ``--to MODE`` previews: one line per upcoming session (what happens to it, who is emailed), the counts,
  and the command that applies exactly this preview. Nothing changes in Google.
* ``--to MODE --apply SWITCH_ID --confirm MODE`` applies that preview: the mode flips and each session is
  queued (the worker moves the events; the outbox relay delivers the queue when no worker listens yet).
* ``--status`` prints the latest switch and its progress.

A refusal is one line naming the option and the fix (exit 2). Audited as ``cli``.
"""

from __future__ import annotations

import json
from typing import Any

import click
from sqlmodel import Session

from engine.admin.mode_switch import apply_switch, preview_switch, switch_status
from engine.ingest.tenants import get_tenant
from engine.settings import get_settings
from engine.store.models import Tenant
from engine.store.unit_of_work import get_engine

#: How the audit log names changes made from the command line.
CLI_ACTOR = "cli"
_OPTION = {"target_mode": "--to", "confirm": "--confirm", "switch_id": "--apply"}


def _tenant(engine: Any, slug: str) -> Tenant:
    with Session(engine) as db:
        tenant = get_tenant(db=db, slug=slug)
        if tenant is None:
            raise click.BadParameter(f"no tenant {slug!r}; list them with `muster tenant list`", param_hint="--slug")
        db.expunge(tenant)
    return tenant


def _plan_line(entry: dict[str, Any]) -> str:
    where = entry.get("to_calendar") or "-"
    extra = entry.get("reason") or entry.get("emails") or ""
    when = str(entry.get("start_at", ""))[:16]
    return f"  {entry.get('action', '?'):<8} {when}Z  {entry.get('title', '')}  -> {where}  ({extra})"


@click.command("switch-mode")
@click.option("--slug", required=True, help="The tenant (see `muster tenant list`).")
@click.option("--to", "target", type=click.Choice(["vendor", "delegation"]), default=None,
              help="The mode to switch to: previews the switch (nothing changes in Google).")
@click.option("--apply", "switch_id", default=None, metavar="SWITCH_ID",
              help="Apply this preview (its id is printed by the preview); needs --to and --confirm.")
@click.option("--confirm", default=None, metavar="MODE", help="The target mode typed again, to apply.")
@click.option("--status", "show_status", is_flag=True, help="Show the latest switch and its progress.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON (the same fields as /v1/admin/mode-switch).")
def switch_mode(slug: str, target: str | None, switch_id: str | None, confirm: str | None, show_status: bool,
                as_json: bool) -> None:
    """Switch a tenant's mode: preview with --to, then apply with --apply ID --confirm MODE."""
    settings = get_settings()
    engine = get_engine(settings)
    tenant = _tenant(engine, slug)
    if show_status or target is None:
        if target is None and not show_status:
            raise click.UsageError("give --to MODE to preview a switch, or --status to see the latest one")
        status = switch_status(settings, tenant, engine=engine).describe()
        if as_json:
            click.echo(json.dumps({"latest": status}, indent=2))
        elif status is None:
            click.echo(f"{slug} runs in {tenant.integration_mode} mode; no switch was ever previewed.")
        else:
            click.echo(f"{slug}: switch {status['switch_id']} {status['from']} -> {status['to']}: {status['status']}, "
                       f"{status['done']} of {status['total']} sessions moved, {status['failed']} failed"
                       + (f"; {status['last_error']}" if status["last_error"] else ""))
        return
    if switch_id is None:
        outcome = preview_switch(settings, engine, tenant.id, target, actor=CLI_ACTOR)
    else:
        outcome = apply_switch(settings, engine, tenant.id, target, actor=CLI_ACTOR, confirm=confirm or "",
                               switch_id=switch_id)
    if not outcome.ok:
        raise click.BadParameter(outcome.message, param_hint=_OPTION.get(outcome.field, "--to"))
    if as_json:
        click.echo(json.dumps({"switch_id": outcome.switch_id, "target_mode": outcome.target,
                               "message": outcome.message, "plan": outcome.plan, "summary": outcome.summary}, indent=2))
        return
    click.echo(outcome.message)
    if switch_id is None:
        for entry in outcome.plan:
            click.echo(_plan_line(entry))
        actions = outcome.summary.get("actions") or {}
        click.echo("plan: " + (", ".join(f"{n} {a}" for a, n in sorted(actions.items())) or "no upcoming session"))
        click.echo(f"To apply it: muster tenant switch-mode --slug {slug} --to {target} --apply {outcome.switch_id} "
                   f"--confirm {target}")


def register(group: click.Group) -> None:
    tenant = group.commands.get("tenant")
    if isinstance(tenant, click.Group):
        tenant.add_command(switch_mode)
