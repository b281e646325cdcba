"""``muster secrets rotate``: re-encrypt every stored credential under the first MUSTER_SECRET_KEY key.

Where it sits: a CLI extension loaded by :mod:`engine.cli.main`; the work is
:func:`engine.admin.key_rotation.rotate_credentials` in one unit of work. Rotation, step by step (README
"Security"): put the new key first, keep the old one after it (``MUSTER_SECRET_KEY=new,old``), restart,
run this command, then remove the old key. Exit 1 when some credential could be read by no configured key.
"""

from __future__ import annotations

import click

from engine.admin.key_rotation import rotate_credentials
from engine.settings import get_settings
from engine.store.unit_of_work import get_engine, unit_of_work


@click.group()
def secrets() -> None:
    """Secret keys and the credentials they protect."""


@secrets.command("rotate")
def rotate_command() -> None:
    """Re-encrypt every stored Google credential with the first key of MUSTER_SECRET_KEY."""
    settings = get_settings()
    keys = settings.all_secret_keys
    with unit_of_work(get_engine(settings)) as uow:
        report = rotate_credentials(db=uow.db, secret_keys=keys)
    click.echo(
        f"Re-encrypted {report.rotated} stored credential(s) with the first of {len(keys)} key(s); "
        f"{report.current} already used it."
    )
    if report.unreadable:
        click.echo(
            f"{len(report.unreadable)} credential(s) could not be decrypted with any configured key: "
            + ", ".join(report.unreadable)
            + ". Add the key they were saved with to MUSTER_SECRET_KEY (after the first) and run this again; "
            "keep the old keys until then.",
            err=True,
        )
        raise SystemExit(1)
    if len(keys) > 1:
        click.echo("Every credential now uses the first key: the other keys can be removed from MUSTER_SECRET_KEY.")


def register(group: click.Group) -> None:
    group.add_command(secrets)
