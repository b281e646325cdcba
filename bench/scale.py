"""The sync engine at scale: the initial sync and the drift pass over 10,000 sessions, against Google's quotas.

Where it sits: ``bench/``, beside ``bench/sync.py`` (whose :class:`Bench` plumbing it reuses: a database and
a Redis namespace of its own, the Google emulator in this process, two ``muster worker`` processes with 4
threads each). Run with::

    .venv/bin/python bench/scale.py                     # 10,000 sessions at Google's 600/min per user
    .venv/bin/python bench/scale.py --quota 6000        # the same quota raised tenfold (a shorter run)

The sessions (two hosts, three learners each, spread over the vendor's owner accounts) are written with the
same data function as ``PUT /v1/sessions/{id}``, in batches, without a sync; then:

* ``initial_sync`` - one drift sweep enqueues them all; the workers create every event. Time from the
  sweep to the last session synced.
* ``drift_pass`` - a second sweep over the same sessions (:func:`engine.sync.sweep.sweep`, each enqueued on
  the platform lane: a reconcile plans against the event as last written and reads nothing when the binding
  can be trusted), unchanged but for ``--drifted`` events edited in Google meanwhile (a guest removed),
  which the workers' change feed reports; only the drifted ones are patched.

Each figure is printed with its quota bound: the shortest time Google's quotas allow for the calls it
needs (``calls / (owners x per-user quota)``, or the per-project quota if that is smaller), and the ratio
measured / bound (1.0 is as fast as the quota allows; the benchmark configures the emulator and Muster
with the same quotas). Also printed: calls and writes per session, the drifted sessions repaired, the
quota refusals seen, and the keys left in Redis afterwards.
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from sync import NS, REDIS, Bench, database

from engine.api.schemas import SessionCreate
from engine.ingest.sessions import upsert_session
from engine.runtime.worker import producer
from engine.settings import load_settings
from engine.store.unit_of_work import unit_of_work
from engine.sync.sweep import sweep

BATCH = 250


def write_sessions(b: Bench, tenant_key: str, n: int) -> None:
    """``n`` new sessions through the REST API's data function, ``BATCH`` per transaction, not enqueued."""
    from engine.ingest.tenants import tenant_for_key

    with unit_of_work(b.engine, dispatcher=lambda ids: None) as uow:
        found = tenant_for_key(db=uow.db, key=tenant_key)
        assert found is not None
        tenant_id = found[0].id
    hosts = b.organizers[:2]
    for start in range(0, n, BATCH):
        with unit_of_work(b.engine, dispatcher=lambda ids: None) as uow:
            for i in range(start, min(n, start + BATCH)):
                learners = b.learners[(i * 3) % 150 : (i * 3) % 150 + 3]
                body = SessionCreate.model_validate(b.body(f"scale-{i}", hosts, learners))
                upsert_session(db=uow.db, tenant_id=tenant_id, external_id=f"scale-{i}", data=body,
                               actor="bench", platform=True)


def bound_s(calls: int, owners: int, per_user: int, per_project: int) -> float:
    """The shortest time the quotas allow for ``calls`` spread evenly over ``owners`` identities."""
    return max(calls / (owners * per_user / 60), calls / (per_project / 60))


def drift(b: Bench, how_many: int) -> int:
    """Remove the last guest of ``how_many`` Muster events directly in Google (the emulator), as a person
    editing the event would: through the real Google client acting as the owner account."""
    import json

    from connectors.google.calendar import GoogleCalendarFactory
    from connectors.google.credentials import ServiceAccountSource, token_uri_for
    from connectors.ports.calendar import Actor

    source = ServiceAccountSource(json.loads(b.key_file.read_text()), token_uri=token_uri_for(b.server.url))
    changed = 0
    for owner in b.owners:
        svc = GoogleCalendarFactory(source, root_url=b.server.url)(Actor("vendor", owner))._svc()
        for entry in b.control("GET", f"calendars/{owner}/events")["events"]:
            event = entry["event"]
            guests = [a for a in event.get("attendees") or [] if not a.get("organizer")]
            if changed >= how_many or event.get("status") == "cancelled" or len(guests) < 2:
                continue
            svc.events().patch(
                calendarId=owner, eventId=event["id"], sendUpdates="none",
                body={"attendees": [{"email": a["email"]} for a in guests[:-1]]},
            ).execute()
            changed += 1
    return changed


def run(b: Bench, args: argparse.Namespace) -> None:
    key = b.tenant("bench-scale", b.owners)
    b.control("PUT", "quotas", {"per_user_per_minute": args.quota, "per_project_per_minute": args.project_quota})
    started = time.monotonic()
    write_sessions(b, key, args.sessions)
    print(f"sessions_written_s: {time.monotonic() - started:.1f} ({args.sessions} sessions, not yet synced)")
    env = b.env(args.quota)
    env["MUSTER_QUOTA_PROJECT_PER_MINUTE"] = str(args.project_quota)
    b.env = lambda quota=args.quota: env  # type: ignore[method-assign]  # the workers get the same quotas
    b.start_workers(quota=args.quota)
    tasks = producer(load_settings(env), engine=b.engine)
    owners = len(b.owners)

    def figure(name: str, seconds: float, calls: int, writes: int, extra: str = "") -> None:
        bound = bound_s(calls, owners, args.quota, args.project_quota)
        print(
            f"{name}_s: {seconds:.1f} (quota bound {bound:.1f} s for {calls} calls over {owners} owners at "
            f"{args.quota}/min each, project {args.project_quota}/min; ratio {seconds / bound:.2f}){extra}"
        )
        print(f"{name}_calls_per_session: {calls / args.sessions:.3f} (writes {writes / args.sessions:.3f})")

    def rejected(counters: dict[str, Any]) -> int:
        return sum(v for k, v in counters["by_status"].items() if str(k) in ("403", "429"))

    # ---------------------------------------------------------------- initial sync
    b.reset_counters()
    started = time.monotonic()
    report = sweep(b.engine, tasks.enqueue)
    b.idle(timeout=bound_s(args.sessions, owners, args.quota, args.project_quota) * 4 + 300)
    seconds = time.monotonic() - started
    c = b.counters()
    figure("initial_sync", seconds, c["total"], b.writes(c), f"; {report.enqueued} enqueued")
    print(f"initial_sync_rejected: {rejected(c)} (bound 0: 403/429 quota refusals)")

    # ---------------------------------------------------------------- drift pass
    drifted = drift(b, args.drifted)
    b.reset_counters()
    started = time.monotonic()
    report = sweep(b.engine, tasks.enqueue)
    b.idle(timeout=bound_s(args.sessions, owners, args.quota, args.project_quota) * 4 + 300)
    seconds = time.monotonic() - started
    c = b.counters()
    writes = b.writes(c)
    figure("drift_pass", seconds, c["total"], writes, f"; {report.enqueued} enqueued")
    print(f"drift_pass_repaired: {writes} (bound {drifted}: the events edited in Google, one patch each)")
    print(f"drift_pass_rejected: {rejected(c)} (bound 0)")
    b.control("DELETE", "quotas")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, default=10_000)
    parser.add_argument("--quota", type=int, default=600, help="per-user quota per minute (Google's default)")
    parser.add_argument("--project-quota", type=int, default=1_000_000, help="per-project quota per minute")
    parser.add_argument("--drifted", type=int, default=100, help="events edited in Google before the drift pass")
    args = parser.parse_args()
    logging.disable(logging.WARNING)
    with database() as db_url, tempfile.TemporaryDirectory() as tmpdir:
        b = Bench(argparse.Namespace(), db_url, Path(tmpdir))
        try:
            run(b, args)
        finally:
            b.stop_workers()
            b.server.stop()
            b.engine.dispose()
            import redis

            client = redis.Redis.from_url(REDIS)
            for k in client.scan_iter(f"{NS}:*"):
                client.delete(k)
            print(f"redis_keys_left: {sum(1 for _ in client.scan_iter(f'{NS}:*'))} (bound 0)")


if __name__ == "__main__":
    main()
