"""``muster user ...``: people and their admin-side roles (add or invite, list, deactivate), admin tokens,
one-time sign-in links, and ``set-password``.

Where it sits: a CLI extension loaded by :mod:`engine.cli.main`; the work is done by
:mod:`engine.admin.people` and :func:`engine.admin.accounts.set_password` inside one unit of work, the same
functions the admin REST API calls. The password is read from a prompt
(hidden, asked twice) or from ``--password-stdin`` for scripts; it is never a command-line argument,
so it does not end up in shell history or the process list.
"""

from __future__ import annotations

import sys
from typing import Any

import click
from sqlmodel import Session

from engine.admin.accounts import UI_ROLES, AccountError, set_password
from engine.admin.people import (
    PeopleError,
    add_person,
    deactivate,
    issue_admin_token,
    list_people,
    sign_in_link,
)
from engine.ingest.tenants import get_tenant
from engine.settings import get_settings
from engine.store.models import Tenant
from engine.store.unit_of_work import get_engine, unit_of_work

#: How the audit log names changes made from the command line.
CLI_ACTOR = "cli"


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


def _tenant(db: Any, slug: str) -> Tenant:
    tenant = get_tenant(db=db, slug=slug)
    if tenant is None:
        raise click.BadParameter(f"no tenant {slug!r}; list them with `muster tenant list`", param_hint="--tenant")
    return tenant


def _people_error(exc: PeopleError | AccountError) -> click.ClickException:
    if exc.field == "password":
        return click.UsageError(exc.message)
    return click.BadParameter(exc.message, param_hint=f"--{exc.field}")


def read_password(password_stdin: bool) -> str:
    if password_stdin:
        return sys.stdin.readline().rstrip("\n")
    return str(click.prompt("New password", hide_input=True, confirmation_prompt=True))


def grant_and_welcome(
    *, tenant_slug: str, email: str, role: str, display_name: str | None, password: str | None, actor: str
) -> tuple[bool, str | None]:
    """Grant ``role`` (creating the person), then set ``password`` or issue a one-time sign-in link.

    Returns ``(created, sign_in_url)``; the URL is None when a password was set."""
    settings = get_settings()
    try:
        with unit_of_work(get_engine(settings)) as uow:
            tenant = _tenant(uow.db, tenant_slug)
            _person, created = add_person(
                db=uow.db, tenant=tenant, email=email, role=role, display_name=display_name, actor=actor
            )
            if password is not None:
                set_password(db=uow.db, tenant_slug=tenant.slug, email=email, password=password)
                return created, None
            return created, sign_in_link(
                db=uow.db, tenant=tenant, email=email, base_url=settings.base_url, actor=actor
            )
    except (PeopleError, AccountError) as exc:
        raise _people_error(exc) from None


@user.command("add")
@click.option("--tenant", "tenant_slug", required=True, help="The tenant's slug (see `muster tenant list`).")
@click.option("--email", required=True, help="The person's email; they need not host anything yet.")
@click.option("--role", required=True, type=click.Choice(UI_ROLES), help="The admin-side role to grant.")
@click.option("--name", "display_name", default=None, help="Display name.")
@click.option("--password-prompt", is_flag=True, help="Ask for their password now instead of printing a link.")
@click.option("--password-stdin", is_flag=True, help="Read their password from standard input (scripts).")
def add_command(tenant_slug: str, email: str, role: str, display_name: str | None, password_prompt: bool,
                password_stdin: bool) -> None:
    """Create or invite an admin, organizer or viewer; prints a one-time sign-in link (or sets a password)."""
    password = read_password(password_stdin) if (password_prompt or password_stdin) else None
    created, url = grant_and_welcome(tenant_slug=tenant_slug, email=email, role=role, display_name=display_name,
                                     password=password, actor=CLI_ACTOR)
    who = email.strip().lower()
    click.echo(f"{'Added' if created else 'Updated'} {who} in {tenant_slug} as {role}.")
    if url:
        click.echo("One-time sign-in link (valid for three days; it lets them choose a password):")
        click.echo(url)
    else:
        click.echo("Password set; they can sign in at /admin/.")


@user.command("list")
@click.option("--tenant", "tenant_slug", required=True, help="The tenant's slug.")
@click.option("--all", "everyone", is_flag=True, help="Also people without a role (hosts, learners).")
def list_command(tenant_slug: str, everyone: bool) -> None:
    """List people with their role, status and whether they have a password."""
    with Session(get_engine(get_settings())) as db:
        rows = list_people(db=db, tenant=_tenant(db, tenant_slug), everyone=everyone)
        for p in rows:
            hosting = "hosts" if "organizer" in (p.roles or []) else "-"
            pw = "password" if p.password_hash else "no password"
            click.echo(f"{p.email}\t{p.admin_role or '-'}\t{p.status}\t{hosting}\t{pw}")
    if not rows:
        click.echo("Nobody has a role yet; add someone with `muster user add --tenant ... --email ... --role admin`.")


@user.command("deactivate")
@click.option("--tenant", "tenant_slug", required=True, help="The tenant's slug.")
@click.option("--email", required=True, help="The person whose admin access ends.")
def deactivate_command(tenant_slug: str, email: str) -> None:
    """Remove a person's admin access: role, password, admin tokens and sign-in links (sessions stay)."""
    try:
        with unit_of_work(get_engine(get_settings())) as uow:
            deactivate(db=uow.db, tenant=_tenant(uow.db, tenant_slug), email=email, actor=CLI_ACTOR)
    except PeopleError as exc:
        raise _people_error(exc) from None
    click.echo(f"Deactivated {email.strip().lower()} in {tenant_slug}.")


@user.command("token")
@click.option("--tenant", "tenant_slug", required=True, help="The tenant's slug.")
@click.option("--email", required=True, help="An admin of the tenant; the admin REST API acts as them.")
@click.option("--name", default="admin", show_default=True, help="A label for the token.")
def token_command(tenant_slug: str, email: str, name: str) -> None:
    """Issue an admin token for the admin REST API (/v1/admin/...); printed once."""
    try:
        with unit_of_work(get_engine(get_settings())) as uow:
            token = issue_admin_token(db=uow.db, tenant=_tenant(uow.db, tenant_slug), email=email, actor=CLI_ACTOR,
                                      name=name)
    except PeopleError as exc:
        raise _people_error(exc) from None
    click.echo("Admin token (shown once; send it as `Authorization: Bearer <token>` to /v1/admin/...):")
    click.echo(token)


@user.command("sign-in-link")
@click.option("--tenant", "tenant_slug", required=True, help="The tenant's slug.")
@click.option("--email", required=True, help="A person with a role.")
def sign_in_link_command(tenant_slug: str, email: str) -> None:
    """Print a new one-time sign-in link (earlier unused links stop working)."""
    settings = get_settings()
    try:
        with unit_of_work(get_engine(settings)) as uow:
            url = sign_in_link(db=uow.db, tenant=_tenant(uow.db, tenant_slug), email=email,
                               base_url=settings.base_url, actor=CLI_ACTOR)
    except PeopleError as exc:
        raise _people_error(exc) from None
    click.echo(url)


def register(group: click.Group) -> None:
    group.add_command(user)
