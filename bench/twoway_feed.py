"""Two-way sync benchmark, change feed: what drift detection costs and how fast a change made in Google is handled.

Where it sits: ``bench/``; a scenario of the two-way benchmark (``figures(b, args)``, run by
``bench/twoway.py --only feed``), also runnable alone: ``.venv/bin/python bench/twoway_feed.py``
(PostgreSQL + Redis + two ``muster worker`` processes and the emulator, through :class:`bench.sync.Bench`;
quotas at Google's values, 600 requests/min per user). Push is on: ``MUSTER_PUSH_URL`` points at this
process's REST app served by uvicorn on 127.0.0.1, where the emulator posts its notifications. Prints one
``name: value (goal …)`` line per figure:

* ``drift_sweep_calls_per_session`` - the worker's periodic drift sweep (:func:`engine.sync.sweep.sweep_changes`:
  each followed calendar's changes, then only the sessions that need a reconcile) over ``--feed-sessions``
  unchanged sessions: Google calls it caused (listings plus any reconcile) per session. Goal ≤ 0.01
  (before the change feed: 1.0, one read per session).
* ``drift_detect_p50_s`` / ``drift_detect_p99_s`` - from an edit made in Google (a title changed through the
  real client, as a person would) to the reconcile that handles it (the write restoring the platform's title,
  policy "the platform wins"), with push. Goal p99 ≤ 3 s.
* ``notifications_per_change`` - push notifications Google posted to Muster (``exists``, on Muster's
  channels) per Google-side change during the edits; Muster's own restoring write notifies too, and its
  sync finds only Muster's etag (no reconcile).
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

import sync as sync_bench  # noqa: E402
import uvicorn  # noqa: E402
from sqlmodel import Session, select  # noqa: E402

from connectors.google.calendar import GoogleCalendarFactory  # noqa: E402
from connectors.google.credentials import ServiceAccountSource, token_uri_for  # noqa: E402
from connectors.ports.calendar import Actor  # noqa: E402
from engine.store.models import CalendarBinding, FeedCalendar  # noqa: E402

PUSH_PORT = 21510


def p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def feed_env(b: sync_bench.Bench, quota: int = 600) -> dict[str, str]:
    """The harness's worker environment with push on (the emulator posts to this process's REST app)."""
    env = sync_bench.Bench.env(b, quota)
    env["MUSTER_PUSH_URL"] = f"http://127.0.0.1:{PUSH_PORT}/google/push"
    env["MUSTER_FEED_POLL_S"] = "300"  # the catch-up timer; push does the work
    return env


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of this scenario (also under the driver ``bench/twoway.py``)."""
    parser.add_argument("--feed-sessions", type=int, default=2000, help="unchanged sessions for the drift sweep")
    parser.add_argument("--feed-edits", type=int, default=60, help="edits made in Google for drift_detect")
    parser.add_argument("--feed-rate", type=float, default=2.0, help="edits per second")


def serve(app: Any) -> uvicorn.Server:
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=PUSH_PORT, log_level="warning"))
    threading.Thread(target=server.run, daemon=True).start()
    deadline = time.monotonic() + 15
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("the push receiver did not start")
        time.sleep(0.05)
    return server


def wait(check: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError(what)
        time.sleep(0.1)


def exists_posted(b: sync_bench.Bench) -> int:
    channels = b.control("GET", "channels")["channels"]
    return sum(1 for c in channels for m in c["messages"] if m["state"] == "exists" and m["status"] == 200)


def figures(b: sync_bench.Bench, args: argparse.Namespace) -> list[str]:
    from engine.api.app import create_api
    from engine.feed import run as feed_run
    from engine.runtime.wiring import build_runtime
    from engine.runtime.worker import producer
    from engine.settings import load_settings
    from engine.sync.sweep import sweep_changes

    b.env = lambda quota=600: feed_env(b, quota)  # type: ignore[method-assign]
    b.start_workers()
    settings = load_settings(b.env())
    tasks = producer(settings, engine=b.engine)
    server = serve(create_api(settings, engine=b.engine))
    rt = build_runtime(settings, engine=b.engine)
    assert rt.feeds is not None
    feeds = rt.feeds
    lines: list[str] = []
    try:
        key = b.tenant("bench-feed", b.owners)
        app = create_api(settings, engine=b.engine)
        hosts = b.organizers[:2]
        calls = [(f"/v1/sessions/feed-{i}", b.body(f"feed-{i}", hosts, b.learners[i % 150: i % 150 + 3]))
                 for i in range(args.feed_sessions)]
        b.puts(app, key, calls)
        b.idle(timeout=900)
        # the feed clock's first pass: channels opened, each calendar's first token taken
        feed_run.clock_pass(b.engine, feeds, settings, tasks.enqueue_feed)
        wait(lambda: _all_followed(b), 120, "every calendar followed")
        b.idle(timeout=300)

        def sync_feeds() -> tuple[int, int, int]:
            done = feed_run.sync_all(b.engine, feeds)
            return done.calendars, done.pages, done.noted

        # ------------------------------------------------------------ drift sweep by changes
        b.reset_counters()
        report = sweep_changes(b.engine, lambda sid: tasks.enqueue(sid, take_over_stale=True, background=True),
                               sync_feeds=sync_feeds)
        b.idle(timeout=300)
        time.sleep(1.0)
        calls_made = b.counters()["total"]
        lines.append(
            f"drift_sweep_calls_per_session: {calls_made / args.feed_sessions:.4f} (goal <= 0.01; {calls_made} calls "
            f"for {args.feed_sessions} unchanged sessions on {report.calendars} calendars: {report.pages} listing "
            f"call(s), {report.enqueued} reconcile(s); before the change feed 1.0)"
        )

        # ------------------------------------------------------------ drift detection with push
        with Session(b.engine) as db:
            bindings = list(db.exec(select(CalendarBinding).where(CalendarBinding.event_id.is_not(None))).all())  # type: ignore[union-attr]
        picked = bindings[: args.feed_edits]
        source = ServiceAccountSource(json.loads(b.key_file.read_text()), token_uri=token_uri_for(b.server.url))
        google = GoogleCalendarFactory(source, root_url=b.server.url)
        restored: dict[str, float] = {}
        edited_at: dict[str, float] = {}
        lock = threading.Lock()

        def on_write(_world: Any, _cal: str, event: dict[str, Any]) -> None:
            eid = str(event.get("id"))
            with lock:
                if eid in edited_at and eid not in restored and str(event.get("summary", "")).startswith("Bench "):
                    restored[eid] = time.monotonic()

        b.world.after_event_write.append(on_write)
        posted_before = exists_posted(b)
        try:
            for i, binding in enumerate(picked):
                svc = google(Actor("vendor", str(binding.owner_email)))._svc()
                t0 = time.monotonic()
                with lock:
                    edited_at[str(binding.event_id)] = t0
                svc.events().patch(calendarId=binding.calendar_id, eventId=binding.event_id,
                                   body={"summary": f"Edited in Google {i}"}, sendUpdates="none").execute()
                time.sleep(max(0.0, 1.0 / args.feed_rate - (time.monotonic() - t0)))
            wait(lambda: len(restored) >= len(picked), 120, "every edit handled")
            b.idle(timeout=120)
            time.sleep(2.0)
        finally:
            b.world.after_event_write.remove(on_write)
        latencies = [restored[e] - edited_at[e] for e in edited_at]
        posted = exists_posted(b) - posted_before
        lines.append(f"drift_detect_p50_s: {statistics.median(latencies):.2f}")
        lines.append(f"drift_detect_p99_s: {p(latencies, 0.99):.2f} (goal <= 3; {len(latencies)} edits in Google "
                     f"at {args.feed_rate}/s, push on, from the edit to the write restoring the platform's title)")
        lines.append(f"notifications_per_change: {posted / len(picked):.2f} ({posted} push notifications for "
                     f"{len(picked)} Google-side changes; each change and Muster's restoring write notify once)")
        return lines
    finally:
        server.should_exit = True


def _all_followed(b: sync_bench.Bench) -> bool:
    with Session(b.engine) as db:
        rows = list(db.exec(select(FeedCalendar).where(FeedCalendar.active == True)).all())  # noqa: E712
    return bool(rows) and all(r.sync_token is not None and r.channel_id is not None for r in rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_arguments(parser)
    args = parser.parse_args()
    logging.disable(logging.WARNING)
    with sync_bench.database() as db_url, tempfile.TemporaryDirectory() as tmpdir:
        b = sync_bench.Bench(args, db_url, Path(tmpdir))
        try:
            for line in figures(b, args):
                print(line, flush=True)
        finally:
            b.stop_workers()
            b.server.stop()
            b.engine.dispose()
            import redis

            client = redis.Redis.from_url(sync_bench.REDIS)
            for k in client.scan_iter(f"{sync_bench.NS}:*"):
                client.delete(k)


if __name__ == "__main__":
    main()
