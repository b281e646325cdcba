"""``muster tenant set`` and ``muster tenant show``: a tenant's whole set-up from the command line.

Where it sits: a CLI extension loaded by :mod:`engine.cli.main` (it adds two commands to the ``tenant``
group). Both go through the engine's one write path, :func:`engine.admin.tenant_setup.configure`, the same
as the admin REST API and the Integration page: the same validation (a bad value is one line naming the
option and the fix, exit 2), the same audit entry (actor ``cli``) and the same re-enqueue of the tenant's
sessions. A new Directory admin is checked live after the commit and each step is printed.

``--setting SECTION.KEY=VALUE`` sets one policy key (VALUE is JSON when it parses as JSON, else text:
``rooms.headroom=0.1``, ``privacy.guest_list_visible=true``, ``successor.eligibleRoles='["co_host"]'``);
``--setting SECTION=default`` puts a whole section back to its defaults. See docs/settings.md.
``--domain`` sets or changes the tenant's Google Workspace domain (``''`` clears it; see
docs/integration-modes.md for what a change means).
``--webhook-secret`` sets the write-only secret the tenant's webhooks are signed with (docs/webhooks.md).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import click
from sqlmodel import Session

from engine.admin.tenant_setup import SetupError, check_directory_admin, configure, describe
from engine.ingest.tenants import get_tenant
from engine.runtime.wiring import probe_kit
from engine.settings import get_settings
from engine.store.unit_of_work import get_engine, unit_of_work

#: How the audit log names changes made from the command line.
CLI_ACTOR = "cli"


def _parse_settings(raw: Sequence[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in raw:
        path, sep, value = item.partition("=")
        section, dot, key = path.strip().partition(".")
        if not sep or not section:
            raise click.BadParameter(
                f"{item!r}: write SECTION.KEY=VALUE (e.g. rooms.headroom=0.1) or SECTION=default",
                param_hint="--setting",
            )
        if not dot:
            if value.strip() != "default":
                raise click.BadParameter(f"{item!r}: a whole section can only be reset: {section}=default",
                                         param_hint="--setting")
            out[section] = None
            continue
        try:
            parsed: Any = json.loads(value)
        except ValueError:
            parsed = value
        target = out.setdefault(section, {})
        if target is None:
            raise click.BadParameter(f"{item!r}: {section} is also reset to its defaults", param_hint="--setting")
        target[key] = parsed
    return out


_OPTION_OF = {
    "domain": "--domain",
    "mode": "--mode",
    "delegation_method": "--delegation-method",
    "directory_admin_email": "--directory-admin",
    "fallback_owner_email": "--fallback-owner",
    "vendor_owner_emails": "--vendor-owner",
    "webhook_secret": "--webhook-secret",
}


def print_steps(steps: list[dict[str, Any]]) -> None:
    for step in steps:
        who = f" [{step['identity']}]" if step.get("identity") else ""
        click.echo(f"  {step['outcome']:<4} {step['name']}{who}: {step['message']}")
        if step.get("fix") and step["outcome"] != "ok":
            click.echo(f"       fix: {step['fix']}")


@click.command("set")
@click.option("--slug", required=True, help="The tenant (see `muster tenant list`).")
@click.option("--domain", default=None, metavar="DOMAIN",
              help="The customer's Google Workspace domain, e.g. acme.example ('' clears it): Sign in with Google "
              "admits only its accounts; domain-wide delegation acts only as them.")
@click.option("--mode", type=click.Choice(["vendor", "delegation"]), default=None,
              help="Only while no event exists in Google; afterwards use the mode switch.")
@click.option("--delegation-method", type=click.Choice(["oauth", "domain_wide"]), default=None,
              help="oauth: each organizer connects Google; domain_wide: the customer's domain-wide delegation.")
@click.option("--directory-admin", default=None, metavar="EMAIL",
              help="The customer's Workspace admin Muster acts as for rooms, the Directory scan and Data Transfer "
              "('' clears it). Checked live once saved.")
@click.option("--fallback-owner", default=None, metavar="EMAIL",
              help="Inherits events when an organizer leaves and no co-host can ('' clears it).")
@click.option("--vendor-owner", "vendor_owners", multiple=True, metavar="EMAIL",
              help="The vendor owner pool (repeat; replaces the pool).")
@click.option("--setting", "settings_", multiple=True, metavar="SECTION.KEY=VALUE",
              help="A policy setting (repeatable), e.g. rooms.headroom=0.1; SECTION=default resets a section.")
@click.option("--webhook-secret", default=None, metavar="SECRET",
              help="The secret webhooks are signed with (24-256 characters, e.g. $(openssl rand -hex 32); "
              "'' removes it). Stored encrypted, never shown. See docs/webhooks.md.")
def tenant_set(slug: str, domain: str | None, mode: str | None, delegation_method: str | None,
               directory_admin: str | None, fallback_owner: str | None, vendor_owners: tuple[str, ...],
               settings_: tuple[str, ...], webhook_secret: str | None) -> None:
    """Change a tenant's set-up: domain, mode, delegation method, Directory admin, fallback owner, owners,
    policies."""
    changes: dict[str, Any] = {}
    if domain is not None:
        changes["domain"] = domain
    if mode is not None:
        changes["mode"] = mode
    if delegation_method is not None:
        changes["delegation_method"] = delegation_method
    if directory_admin is not None:
        changes["directory_admin_email"] = directory_admin
    if fallback_owner is not None:
        changes["fallback_owner_email"] = fallback_owner
    if vendor_owners:
        changes["vendor_owner_emails"] = list(vendor_owners)
    if settings_:
        changes["settings"] = _parse_settings(settings_)
    if webhook_secret is not None:
        changes["webhook_secret"] = webhook_secret
    if not changes:
        raise click.UsageError("nothing to change: give at least one option (see --help)")
    settings = get_settings()
    engine = get_engine(settings)
    try:
        with unit_of_work(engine) as uow:
            tenant = get_tenant(db=uow.db, slug=slug)
            if tenant is None:
                raise click.BadParameter(f"no tenant {slug!r}; list them with `muster tenant list`",
                                         param_hint="--slug")
            result = configure(uow, tenant, changes, actor=CLI_ACTOR, secret_keys=settings.all_secret_keys,
                               allow_loopback_webhooks=settings.webhooks_allow_loopback)
            tenant_id = tenant.id
    except SetupError as exc:
        head = exc.field.split(".")[0]
        hint = "--setting" if head == "settings" else _OPTION_OF.get(head, f"--{head}")
        raise click.BadParameter(f"{exc.field.removeprefix('settings.')}: {exc.message}", param_hint=hint) from None
    if not result.changes:
        click.echo(f"Nothing changed for {slug}.")
        return
    click.echo(f"Saved for {slug}: " + ", ".join(sorted(result.changes)) + ".")
    if result.signed_out:
        click.echo("Signed out (signed in with Google, outside the new domain): " + ", ".join(result.signed_out))
    if result.directory_admin_changed:
        with Session(engine) as db:
            steps = check_directory_admin(db, tenant_id, settings, kit=probe_kit(settings))
        if steps:
            click.echo("Directory admin check:")
            print_steps(steps)


@click.command("show")
@click.option("--slug", required=True, help="The tenant (see `muster tenant list`).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON (the same fields as GET /v1/admin/tenant).")
def tenant_show(slug: str, as_json: bool) -> None:
    """Print a tenant's set-up, every policy and the scopes to paste into Google Admin."""
    settings = get_settings()
    with Session(get_engine(settings)) as db:
        tenant = get_tenant(db=db, slug=slug)
        if tenant is None:
            raise click.BadParameter(f"no tenant {slug!r}; list them with `muster tenant list`", param_hint="--slug")
        data = describe(tenant, settings)
    if as_json:
        click.echo(json.dumps(data, indent=2, sort_keys=True))
        return
    dwd = data["domain_wide_delegation"]
    lines = [
        f"{data['slug']} ({data['name']}), domain {data['domain'] or '-'}",
        f"mode: {data['mode']}" + (f" ({data['delegation_method']})" if data["mode"] == "delegation" else ""),
        f"delegation method: {data['delegation_method']}",
        f"Directory admin: {data['directory_admin_email'] or '-'}",
        f"fallback owner: {data['fallback_owner_email'] or '-'}",
        f"vendor owners: {', '.join(data['vendor_owner_emails']) or '-'}",
        f"webhook secret: {'set (never shown)' if data['webhook_secret_set'] else '-'}",
    ]
    if data["config_error"]:
        lines.append(f"config_error: {data['config_error']} (nothing syncs until it is fixed)")
    lines.append("settings:")
    for section, values in data["settings"].items():
        lines.append(f"  {section}: {json.dumps(values, sort_keys=True)}")
    lines.append(f"domain-wide delegation ({dwd['admin_console']}):")
    lines.append(f"  client id: {dwd['client_id'] or '- (' + str(dwd['key_problem']) + ')'}")
    lines.append(f"  scopes: {','.join(dwd['scopes'])}")
    click.echo("\n".join(lines))


def register(group: click.Group) -> None:
    tenant = group.commands.get("tenant")
    if isinstance(tenant, click.Group):
        tenant.add_command(tenant_set)
        tenant.add_command(tenant_show)
