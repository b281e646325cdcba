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
* ``feed_catch_up`` - the change feed brought up to date once the events exist (each followed calendar's
  changes listed: Muster's own writes, recognised by their etag, noted as changed in Google by none).
* ``drift_pass`` - the worker's periodic drift sweep by changes (:func:`engine.sync.sweep.sweep_changes` with
  :func:`engine.feed.run.sync_all`, as ``muster worker`` runs it every ``MUSTER_SWEEP_INTERVAL_S``) after
  ``--drifted`` events were edited in Google (a guest removed, spread over the owner accounts): one listing
  per calendar finds them, and only they are reconciled (a patch each, in the background lane: the repair plans
  against the event as the listing returned it, its patch conditional on that etag).
  The workers' own feed clock is slowed for this run so that the sweep's listing is what finds them.
* ``enrollment_p99_during_full_resync_s`` - enrollments through the REST API (``--resync-rate`` per second
  for ``--resync-load-s`` seconds, spread over the owner accounts) while a full verification
  (:func:`engine.sync.sweep.sweep` in the background lane: every session's event read) of all the sessions
  runs; from the REST call to the attendee on the event. Goal <= 2 s. Then ``full_verification_s``: until
  the verification is done, against its quota bound (one read per session within the background share).

Each timed figure is printed with its quota bound: the shortest time Google's quotas allow for the calls it
needs (``calls / (owners x per-user quota)``, background work within its share of it, or the per-project
quota if that is smaller), and the ratio
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
    editing the event would: through the real Google client acting as the owner account; spread evenly
    over the owner accounts (each repair takes a slot of its own account's background share)."""
    import json

    from connectors.google.calendar import GoogleCalendarFactory
    from connectors.google.credentials import ServiceAccountSource, token_uri_for
    from connectors.ports.calendar import Actor

    source = ServiceAccountSource(json.loads(b.key_file.read_text()), token_uri=token_uri_for(b.server.url))
    changed = 0
    for n, owner in enumerate(b.owners):
        mine = how_many // len(b.owners) + (1 if n < how_many % len(b.owners) else 0)
        svc = GoogleCalendarFactory(source, root_url=b.server.url)(Actor("vendor", owner))._svc()
        for entry in b.control("GET", f"calendars/{owner}/events")["events"]:
            event = entry["event"]
            guests = [a for a in event.get("attendees") or [] if not a.get("organizer")]
            if mine <= 0:
                break
            if event.get("status") == "cancelled" or len(guests) < 2:
                continue
            svc.events().patch(
                calendarId=owner, eventId=event["id"], sendUpdates="none",
                body={"attendees": [{"email": a["email"]} for a in guests[:-1]]},
            ).execute()
            changed += 1
            mine -= 1
    return changed


def feed_calls(counters: dict[str, Any]) -> int:
    """Change-feed calls among the emulator's counters (``events.list`` of a calendar, watch, stop)."""
    return sum(
        int(v)
        for k, v in (counters.get("by_route") or {}).items()
        if (k.startswith("GET ") and k.rstrip("/").endswith("/events")) or "/watch" in k or "channels/stop" in k
    )


def run(b: Bench, args: argparse.Namespace) -> None:
    from engine.feed import run as feed_run
    from engine.runtime.wiring import build_runtime
    from engine.sync.sweep import sweep_changes

    key = b.tenant("bench-scale", b.owners)
    b.control("PUT", "quotas", {"per_user_per_minute": args.quota, "per_project_per_minute": args.project_quota})
    started = time.monotonic()
    write_sessions(b, key, args.sessions)
    print(f"sessions_written_s: {time.monotonic() - started:.1f} ({args.sessions} sessions, not yet synced)")
    env = b.env(args.quota)
    env["MUSTER_QUOTA_PROJECT_PER_MINUTE"] = str(args.project_quota)
    # The workers' own change-feed clock is slowed down so that the drift pass below finds the changes made in
    # Google itself, with the listing the periodic sweep makes (as it would after a lost push notification).
    env["MUSTER_FEED_POLL_S"] = "86400"
    b.env = lambda quota=args.quota: env  # type: ignore[method-assign]  # the workers get the same quotas
    b.start_workers(quota=args.quota)
    settings = load_settings(env)
    tasks = producer(settings, engine=b.engine)
    runtime = build_runtime(settings, engine=b.engine)  # this process's feed ports, paced like the workers'
    assert runtime.feeds is not None
    feeds = runtime.feeds
    owners = len(b.owners)
    share = settings.background_quota_percent / 100
    per_s = owners * args.quota / 60  # platform lane, every owner account
    project_s = args.project_quota / 60

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
    seconds = b.idle(timeout=bound_s(args.sessions, owners, args.quota, args.project_quota) * 4 + 300) - started
    c = b.counters()
    figure("initial_sync", seconds, c["total"], b.writes(c), f"; {report.enqueued} enqueued")
    print(f"initial_sync_rejected: {rejected(c)} (bound 0: 403/429 quota refusals)")

    # ---------------------------------------------------------------- the change feed catches up
    b.reset_counters()
    started = time.monotonic()
    caught = feed_run.sync_all(b.engine, feeds)
    b.idle(timeout=300)
    c = b.counters()
    print(
        f"feed_catch_up_s: {time.monotonic() - started:.1f} ({caught.calendars} calendars, {caught.pages} "
        f"listing calls for the events written since each calendar's last sync, {caught.noted} noted as "
        f"changed in Google (bound 0: Muster's own writes), {c['total'] - feed_calls(c)} other calls)"
    )

    # ---------------------------------------------------------------- drift pass: the periodic sweep by changes
    drifted = drift(b, args.drifted)
    b.reset_counters()
    started = time.monotonic()
    changes = sweep_changes(  # as the worker's drift sweep runs it (engine.runtime.worker)
        b.engine,
        lambda sid: tasks.enqueue(sid, take_over_stale=True, background=True),
        sync_feeds=lambda: (lambda p: (p.calendars, p.pages, p.noted))(feed_run.sync_all(b.engine, feeds)),
    )
    seconds = b.idle(timeout=args.drifted * 2 / (per_s * share) * 4 + 300) - started
    c = b.counters()
    writes = b.writes(c)
    listing = feed_calls(c)
    repair = c["total"] - listing
    reads = sum(int(v) for k, v in (c.get("by_route") or {}).items() if k.startswith("GET ") and "/events/" in k)
    # listings in the platform lane, the repairs (a patch each, and any read) in the background share
    bound = max(listing / per_s + repair / (per_s * share), c["total"] / project_s)
    print(
        f"drift_pass_s: {seconds:.1f} (quota bound {bound:.1f} s: {listing} listing calls at {per_s:g}/s and "
        f"{repair} repair calls ({reads} reads, {writes} writes) in the background share, {share:.0%} of "
        f"{owners} owners x {args.quota}/min; "
        f"ratio {seconds / bound:.2f}; the periodic sweep by changes: {changes.calendars} calendars listed, "
        f"{changes.noted} events changed in Google noted and reconciled in the background lane, "
        f"{changes.enqueued} other sessions enqueued)"
    )
    print(
        f"drift_pass_calls_per_session: {c['total'] / args.sessions:.4f} ({c['total']} calls for {args.sessions} "
        f"sessions: {listing / args.sessions:.4f} per session for the listings, whatever the number of sessions "
        f"unchanged (goal <= 0.01), and {repair} for the {drifted} drifted ones (a patch each, as listed); "
        f"writes {writes})"
    )
    print(f"drift_pass_repaired: {writes} (bound {drifted}: the events edited in Google, one patch each)")
    print(f"drift_pass_rejected: {rejected(c)} (bound 0)")

    # ---------------------------------------------------------------- enrollments during a full verification
    from twoway_calls import Load, p99

    app = b.app()
    sample = [f"scale-{i}" for i in range(0, args.sessions, max(1, args.sessions // 300))]
    load = Load(b, app, key, sample, b.learners[152:200])
    b.seen.clear()
    b.reset_counters()
    started = time.monotonic()
    report = sweep(b.engine, lambda sid: tasks.enqueue(sid, take_over_stale=True, background=True))
    plan = load.plan(int(args.resync_load_s * args.resync_rate))
    sent = load.send(plan, rate=args.resync_rate)
    lat = load.latencies(plan, sent)
    c = b.counters()
    reads = sum(int(v) for k, v in (c.get("by_route") or {}).items() if k.startswith("GET") and "/events/" in k)
    print(
        f"enrollment_p99_during_full_resync_s: {p99(lat):.3f} (goal <= 2; p50 "
        f"{lat[len(lat) // 2] if lat else float('nan'):.3f}, {len(plan)} enrollments at {args.resync_rate:g}/s "
        f"while a full verification of {report.enqueued} sessions ran in the background lane, {reads} of its "
        f"reads done meanwhile" + (f", {len(plan) - len(lat)} not seen" if len(lat) < len(plan) else "") + ")"
    )
    verify_bound = args.sessions / (per_s * share)
    seconds = b.idle(timeout=verify_bound * 3 + 300) - started
    c = b.counters()
    print(
        f"full_verification_s: {seconds:.1f} (quota bound {verify_bound:.1f} s: one read per session in the "
        f"background share, {share:.0%} of {owners} owners x {args.quota}/min; ratio {seconds / verify_bound:.2f}; "
        f"{c['total']} calls, {rejected(c)} quota refusals)"
    )
    b.control("DELETE", "quotas")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, default=10_000)
    parser.add_argument("--quota", type=int, default=600, help="per-user quota per minute (Google's default)")
    parser.add_argument("--project-quota", type=int, default=1_000_000, help="per-project quota per minute")
    parser.add_argument("--drifted", type=int, default=100, help="events edited in Google before the drift pass")
    parser.add_argument("--resync-rate", type=float, default=1.0, help="enrollments/s during the full verification")
    parser.add_argument("--resync-load-s", type=float, default=60.0, help="seconds of enrollments during it")
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
