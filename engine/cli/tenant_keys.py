"""``muster tenant key``: a new REST API key for the learning platform (shown once), and key rotation.

Where it sits: a CLI extension loaded by :mod:`engine.cli.main` (it adds one command to the ``tenant``
group). ``muster tenant create`` prints the first key; this issues another one, named, and with
``--replace`` revokes the tenant's other live keys of that name in the same transaction, so a platform can
rotate its key (deploy the new one, then the old one stops working) and a re-run script stays idempotent.
The key is stored hashed (:func:`engine.ingest.tenants.issue_api_key`); the change is audited as ``cli``.
"""

from __future__ import annotations

import click

from engine.admin.queries import record_audit
from engine.ingest.tenants import get_tenant, issue_api_key
from engine.settings import get_settings
from engine.store.unit_of_work import get_engine, unit_of_work


@click.command("key")
@click.option("--slug", required=True, help="The tenant (see `muster tenant list`).")
@click.option("--name", default="default", show_default=True, metavar="NAME",
              help="A label for the key, e.g. the platform's environment (at most 100 characters).")
@click.option("--replace", is_flag=True, help="Revoke the tenant's other live keys with this name (rotation).")
def tenant_key(slug: str, name: str, replace: bool) -> None:
    """Issue a new REST API key for the platform (printed once); --replace revokes the keys of that name."""
    label = name.strip()
    if not label or len(label) > 100:
        raise click.BadParameter("give a name of 1 to 100 characters", param_hint="--name")
    with unit_of_work(get_engine(get_settings())) as uow:
        tenant = get_tenant(db=uow.db, slug=slug)
        if tenant is None:
            raise click.BadParameter(f"no tenant {slug!r}; list them with `muster tenant list`", param_hint="--slug")
        key = issue_api_key(db=uow.db, tenant_id=tenant.id, name=label, revoke_same_name=replace)
        record_audit(db=uow.db, tenant_id=tenant.id, actor="cli", action="tenant.api_key", subject=tenant.slug,
                     detail={"name": label, "replaced_same_name": replace})
    click.echo(f"New API key {label!r} for {slug}" + (" (earlier keys of that name are revoked)" if replace else "")
               + ". Shown once, store it now:")
    click.echo(key)


def register(group: click.Group) -> None:
    tenant = group.commands.get("tenant")
    if isinstance(tenant, click.Group):
        tenant.add_command(tenant_key)
