"""``muster sweep``: enqueue a drift-repair reconcile of every session now.

Where it sits: a CLI extension loaded by :mod:`engine.cli.main` (``register(group)``). The work is
:func:`engine.sync.sweep.sweep`, the same batch walk the workers run every ``MUSTER_SWEEP_INTERVAL_S``. With
Redis configured the reconciles go to the workers' queue; without Redis they run here, in this process
(an embedded worker is started for the duration of the command).
"""

from __future__ import annotations

import click

from engine.settings import get_settings


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
    from engine.sync.sweep import sweep

    settings = get_settings()
    if settings.redis_url:
        tasks = producer(settings)
        report = sweep(tasks.runtime.engine, tasks.enqueue)
        click.echo(
            f"enqueued {report.enqueued} of {report.scanned} sessions for the workers ({report.seconds:.2f}s)"
        )
        return
    embedded = start_embedded(settings)
    try:
        report = sweep(embedded.runtime.engine, embedded.tasks.enqueue)
        embedded.join(timeout_s)
    except TimeoutError:
        raise click.ClickException(
            f"the reconciles did not finish within {timeout_s:.0f}s; run again"
        ) from None
    finally:
        embedded.stop()
    click.echo(f"reconciled {report.enqueued} of {report.scanned} sessions")


def register(group: click.Group) -> None:
    group.add_command(sweep_command)
