"""``muster reconcile --session ID | --all``: reconcile sessions now, in this process, under the session lock.

Where it sits: a CLI extension loaded by :mod:`engine.cli.main` (``register(group)``). It builds the process's
parts with the composition root (:func:`engine.runtime.wiring.build_runtime`) and calls the same
:meth:`~engine.sync.reconciler.SessionReconciler.reconcile` a worker's actor calls; ``--all`` walks the same
batch as the periodic sweep (:func:`engine.sync.sweep.sweep`). Every reconcile here is a verification: it
reads each event from Google instead of trusting the binding's record of it. ``--all`` (the full verification)
runs in the background lane (:func:`engine.runtime.ratelimit.background`): within the background share of each
identity's quota, so the platform's changes keep their share while it runs. ``--recreate`` brings back a
session's event that was deleted in Google and left so by the tenant's policy (``google_changes.deleted=flag``).
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Callable

import click

from connectors.errors import ConnectorError
from engine.runtime import ratelimit
from engine.runtime.wiring import build_runtime
from engine.settings import Settings, get_settings
from engine.sync.reconciler import reconcile_leased
from engine.sync.sweep import sweep


def run_reconcile(
    settings: Settings,
    *,
    session_id: uuid.UUID | None,
    all_sessions: bool,
    echo: Callable[[str], None] = print,
    recreate: bool = False,
) -> int:
    """``muster reconcile --session ID | --all``: reconcile now, in this process, under the session lock.

    Returns the number of sessions whose reconcile failed (0 = all in sync).
    """
    runtime = build_runtime(settings)
    ids: list[uuid.UUID] = []
    if session_id is not None:
        ids = [session_id]
    elif all_sessions:
        sweep(runtime.engine, ids.append)
    failed = 0
    for sid in ids:
        try:
            # A worker reconciling it right now renews its lease while it works: wait for it, bounded.
            with ratelimit.background() if all_sessions else contextlib.nullcontext():
                result = reconcile_leased(runtime.reconciler, runtime.lock, sid, settings.lock_ttl_s,
                                          wait_s=settings.lock_ttl_s + 5, verify=True, recreate=recreate)
            if result is None:
                echo(f"{sid}: busy (another worker holds its lease)")
                failed += 1
                continue
            if result.outcome == "missing" and session_id is not None:
                echo(f"{sid}: no such session; use the `id` that GET /v1/sessions shows for it")
                failed += 1
                continue
            echo(f"{sid}: {result.outcome}" + (f" ({', '.join(result.ops)})" if result.ops else "")
                 + (f": {result.detail}" if result.detail else ""))
            failed += result.outcome not in ("success", "missing", "requeue_after")
        except ConnectorError as exc:
            echo(f"{sid}: {exc.error_class} error: {exc}")
            failed += 1
    if not ids:
        echo("no session to reconcile")
    return failed


@click.command("reconcile")
@click.option("--session", "session_id", default=None, metavar="ID", help="Muster's session id (a UUID).")
@click.option("--all", "all_sessions", is_flag=True, help="Every session that is not in sync.")
@click.option(
    "--recreate",
    is_flag=True,
    help="With --session: bring back its event if it was deleted in Google (policy google_changes.deleted=flag).",
)
def reconcile_command(session_id: str | None, all_sessions: bool, recreate: bool) -> None:
    """Reconcile one session (--session ID) or all (--all) with Google now, in this process."""
    if (session_id is None) == (not all_sessions):
        raise click.UsageError("give exactly one of --session ID or --all")
    if recreate and session_id is None:
        raise click.UsageError("--recreate goes with --session ID (one session at a time)")
    parsed: uuid.UUID | None = None
    if session_id is not None:
        try:
            parsed = uuid.UUID(session_id)
        except ValueError:
            raise click.BadParameter(
                f"{session_id!r} is not a session id (a UUID as shown by the API's `id`)",
                param_hint="--session",
            ) from None
    failed = run_reconcile(
        get_settings(), session_id=parsed, all_sessions=all_sessions, echo=click.echo, recreate=recreate
    )
    if failed:
        raise click.ClickException(f"{failed} session(s) did not reconcile; see above")


def register(group: click.Group) -> None:
    group.add_command(reconcile_command)
