"""``muster status``: readiness of this deployment in a terminal, the same checks as ``/readyz``.

Where it sits: a CLI extension loaded by :mod:`engine.cli.main`. It prints the version, the database (reachable
and migrated to this build's head, :func:`engine.runtime.probes.database`), the broker (Redis answering a PING)
and every live ``muster worker`` (announced in Redis by :mod:`engine.runtime.worker_health`) with its own
``/readyz`` answer and when it last handled a message. Exits 1 when anything is not ready, so scripts and
deploy pipelines can wait on it; ``--json`` prints the same as one JSON object.
"""

from __future__ import annotations

import json
from typing import Any

import click
import httpx

from engine import version
from engine.runtime import metrics, probes
from engine.settings import get_settings
from engine.store.unit_of_work import get_engine

#: Seconds to wait for one worker's ``/readyz``.
WORKER_TIMEOUT_S = 2.0


def _worker_state(record: dict[str, Any]) -> dict[str, Any]:
    url = str(record.get("url", ""))
    try:
        resp = httpx.get(url.rstrip("/") + "/readyz", timeout=WORKER_TIMEOUT_S)
        body = resp.json()
    except (httpx.HTTPError, ValueError) as exc:
        return {"url": url, "ready": False, "detail": f"no answer ({exc})"}
    return {
        "url": url,
        "ready": resp.status_code == 200,
        "version": body.get("version"),
        "seconds_since_last_message": body.get("seconds_since_last_message"),
        "detail": body.get("checks", {}).get("broker", {}).get("detail", ""),
    }


def collect() -> dict[str, Any]:
    settings = get_settings()
    database = probes.database(get_engine(settings))
    broker = probes.broker(settings.redis_url)
    workers: list[dict[str, Any]] = []
    if settings.redis_url is not None and broker.ok:
        metrics.configure(settings.redis_url, settings.redis_namespace)
        workers = [_worker_state(w) for w in metrics.registered_workers()]
    ready = database.ok and broker.ok and all(w["ready"] for w in workers)
    if settings.redis_url is not None and broker.ok and not workers:
        ready = False  # nothing consumes the queue
    return {
        "version": version(),
        "ready": ready,
        "database": database.as_dict(),
        "broker": broker.as_dict(),
        "workers": workers,
    }


def _line(name: str, probe: dict[str, Any]) -> str:
    return f"{name:<9} {probe['state']:<13} {probe.get('detail', '')}".rstrip()


@click.command("status")
@click.option("--json", "as_json", is_flag=True, help="Print the status as JSON.")
def status_command(as_json: bool) -> None:
    """Is this deployment ready? Database, migrations, Redis and every live worker (exit 1 if not)."""
    report = collect()
    if as_json:
        click.echo(json.dumps(report, indent=2))
    else:
        click.echo(f"muster {report['version']}: {'ready' if report['ready'] else 'NOT READY'}")
        click.echo(_line("database", report["database"]))
        click.echo(_line("broker", report["broker"]))
        if report["broker"]["state"] != "embedded":
            workers = report["workers"]
            click.echo(f"{'workers':<9} {len(workers)} live" + ("" if workers else ": start `muster worker`"))
            for w in workers:
                since = w.get("seconds_since_last_message")
                last = "no message handled yet" if since is None else f"last message {since}s ago"
                state = "ready" if w["ready"] else "NOT READY"
                click.echo(f"  {w['url']}  {state}  {last} {w.get('detail') or ''}".rstrip())
    if not report["ready"]:
        raise click.exceptions.Exit(1)


def register(group: click.Group) -> None:
    group.add_command(status_command)
