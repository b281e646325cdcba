"""``muster user set-password``: give a person an admin UI password (and optionally their admin-side role).

Where it sits: a CLI extension loaded by :mod:`engine.cli.main`; the work is done by
:func:`engine.admin.accounts.set_password` inside one unit of work. The password is read from a prompt
(hidden, asked twice) or from ``--password-stdin`` for scripts; it is never a command-line argument,
so it does not end up in shell history or the process list.
"""

from __future__ import annotations

import sys

import click

from engine.admin.accounts import UI_ROLES, AccountError, set_password
from engine.settings import get_settings
from engine.store.unit_of_work import get_engine, unit_of_work


@click.group()
def user() -> None:
    """Admin UI accounts."""


@user.command("set-password")
@click.option("--tenant", "tenant_slug", required=True, help="The tenant's slug (see `muster tenant list`).")
@click.option("--email", required=True, help="The person's email (they must exist in the tenant).")
@click.option(
    "--role",
    type=click.Choice(UI_ROLES),
    default=None,
    help="Grant this admin-side role (replacing the one held), e.g. --role admin for the first administrator. "
    "Needed the first time: a password alone opens nothing.",
)
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input (scripts).")
def set_password_command(tenant_slug: str, email: str, role: str | None, password_stdin: bool) -> None:
    """Set the admin UI password of EMAIL in TENANT."""
    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = click.prompt("New password", hide_input=True, confirmation_prompt=True)
    try:
        with unit_of_work(get_engine(get_settings())) as uow:
            person = set_password(
                db=uow.db, tenant_slug=tenant_slug, email=email, password=password, role=role
            )
            role_now = person.admin_role
    except AccountError as exc:
        raise click.UsageError(
            f"--{exc.field}: {exc.message}" if exc.field != "password" else exc.message
        ) from None
    click.echo(f"Password set for {email.strip().lower()} in {tenant_slug} (role: {role_now}).")


def register(group: click.Group) -> None:
    group.add_command(user)
