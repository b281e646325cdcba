"""``muster sweep``: enqueue a drift-repair reconcile of every session now.

Where it sits: a CLI extension loaded by :mod:`engine.cli.main` (``register(group)``). The work is
:func:`engine.sync.sweep.sweep`, the same batch walk the workers run every ``MUSTER_SWEEP_INTERVAL_S``. With
Redis configured the reconciles go to the workers' queue; without Redis they run here, in this process
(an embedded worker is started for the duration of the command). A session whose "reconcile scheduled"
marker is stale (its message was lost) is enqueued anyway; the count printed is of messages really sent.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from engine.settings import get_settings

if TYPE_CHECKING:
    from engine.sync.strays import StrayReport


@click.command("sweep")
@click.option(
    "--timeout",
    "timeout_s",
    default=600.0,
    show_default=True,
    help="Embedded mode: how long to wait for the reconciles to finish (seconds).",
)
def sweep_command(timeout_s: float) -> None:
    """Check every session against Google and repair drift (no Google write when nothing drifted)."""
    from engine.runtime.worker import producer, start_embedded
    from engine.sync.strays import sweep_runtime_strays
    from engine.sync.sweep import sweep

    settings = get_settings()
    if settings.redis_url:
        tasks = producer(settings)
        report = sweep(
            tasks.runtime.engine, lambda sid: tasks.enqueue(sid, take_over_stale=True, background=True)
        )
        merged = f", {report.coalesced} already scheduled" if report.coalesced else ""
        click.echo(
            f"enqueued {report.enqueued} of {report.scanned} sessions for the workers{merged} "
            f"({report.seconds:.2f}s)"
        )
        _echo_strays(
            sweep_runtime_strays(tasks.runtime, lambda sid: tasks.enqueue(sid, coalesce=False, background=True))
        )
        return
    embedded = start_embedded(settings)
    try:
        tasks = embedded.tasks
        report = sweep(embedded.runtime.engine, lambda sid: tasks.enqueue(sid, take_over_stale=True, background=True))
        strays = sweep_runtime_strays(
            embedded.runtime, lambda sid: tasks.enqueue(sid, coalesce=False, background=True)
        )
        embedded.join(timeout_s)
    except TimeoutError:
        raise click.ClickException(
            f"the reconciles did not finish within {timeout_s:.0f}s; run again"
        ) from None
    finally:
        embedded.stop()
    click.echo(f"reconciled {report.enqueued + report.coalesced} of {report.scanned} sessions")
    _echo_strays(strays)


def _echo_strays(report: StrayReport) -> None:
    click.echo(
        f"stray events (Muster's marker, named by no binding) on {report.calendars} calendar(s): "
        f"{len(report.removed)} removed, {len(report.adopted)} adopted"
        + (f", {len(report.errors)} calendar(s) not readable: {report.errors[0]}" if report.errors else "")
    )


def register(group: click.Group) -> None:
    group.add_command(sweep_command)
