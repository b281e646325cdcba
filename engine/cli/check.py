"""``muster check --tenant SLUG``: the connection check from the command line.

Where it sits: a CLI extension loaded by :mod:`engine.cli.main`; the work is
:func:`engine.admin.connection_check.run_check_for_slug`
(the same check as the admin UI's "Test connection"). It makes real calls to Google (or to the emulator
named by ``MUSTER_GOOGLE_ROOT_URL``), prints one line per step with the fix for each failure, and exits 1
when a step failed, so scripts and CI can use it.
"""

from __future__ import annotations

import json

import click

from engine.admin.connection_check import run_check_for_slug
from engine.runtime.wiring import probe_kit
from engine.settings import get_settings
from engine.store.unit_of_work import get_engine, network_session


@click.command("check")
@click.option("--tenant", "tenant_slug", required=True, help="The tenant's slug (see `muster tenant list`).")
@click.option(
    "--organizer",
    default=None,
    metavar="EMAIL",
    help="Act as this organizer for the token/calendar/Meet steps (default: a host of the tenant).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def check_command(tenant_slug: str, organizer: str | None, as_json: bool) -> None:
    """Test the tenant's Google setup step by step (token, calendar, Meet, rooms) and print the fixes."""
    settings = get_settings()
    with network_session(get_engine(settings)) as db:  # each step calls Google: no transaction held meanwhile
        try:
            report = run_check_for_slug(
                db, slug=tenant_slug, settings=settings, kit=probe_kit(settings), organizer_email=organizer
            )
        except LookupError as exc:
            raise click.UsageError(str(exc)) from None
        db.commit()  # a refused stored token is marked, so the organizer sees the reconnect prompt
    click.echo(json.dumps(report.as_dict(), indent=2) if as_json else report.as_text())
    if not report.ok:
        raise click.exceptions.Exit(1)


def register(group: click.Group) -> None:
    group.add_command(check_command)
