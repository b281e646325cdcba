"""Two-way sync benchmark, answers: a guest's answer to the platform's webhook, and a decline to the promotion.

Where it sits: ``bench/``; a scenario of the two-way benchmark, also runnable alone:
``.venv/bin/python bench/twoway_answers.py`` (PostgreSQL + Redis + two ``muster worker`` processes and the
emulator, through :class:`bench.sync.Bench`; quotas at Google's values, 600 requests/min per user). A real HTTP
receiver on 127.0.0.1 (``tests/webhook_receiver.py``) verifies each signature and records when each event
first arrives. Prints one ``name: value (goal …)`` line per figure:

* ``rsvp_to_webhook_p50_s`` / ``rsvp_to_webhook_p99_s`` - from a guest's answer in Google (the emulator's
  guest-answer control route: the organizer's event shows it, the change is in incremental sync) to the
  platform's receiver getting ``enrollment.response_changed`` for it. Goal p99 ≤ 5 s.
* ``decline_to_promotion_p50_s`` / ``decline_to_promotion_p99_s`` - decline policy ``cancel_and_promote``:
  from a learner's decline in Google to the first waitlisted learner being an attendee of the event in
  Google. Goal p99 ≤ 5 s.

How the answer reaches Muster: when the change feed (``engine.sync.remote_change``) is present, nothing
but the answer is done: the REST app is served over HTTP on 127.0.0.1 (``MUSTER_PUSH_URL`` points the
emulator's push notifications at its ``POST /google/push``), each calendar's channel is opened by one feed
clock pass, and the feed notices the answer by push. Without the feed, the benchmark does at the moment of
the answer what the feed does once it notices (marks the binding changed in Google and asks for a
background reconcile); the figure then leaves out the feed's own detection time, and the line says so.
"""

from __future__ import annotations

import argparse
import importlib.util
import logging
import random
import statistics
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

import sync as sync_bench  # noqa: E402
from ingest import free_port  # noqa: E402
from sqlmodel import Session, select  # noqa: E402

from engine.admin.tenant_setup import configure  # noqa: E402
from engine.runtime.actors import Tasks  # noqa: E402
from engine.store.models import CalendarBinding, LiveSession, Tenant  # noqa: E402
from engine.store.types import utcnow  # noqa: E402
from engine.store.unit_of_work import unit_of_work  # noqa: E402
from tests.webhook_receiver import Receiver  # noqa: E402

SECRET = "bench-webhook-secret-" + "5" * 24
#: Ports the benchmark's HTTP API may listen on (the push notifications' target).
API_PORTS = range(21600, 21650)
#: The change feed's entry point; when it exists the benchmark leaves detection to it.
FEED_MODULE = "engine.sync.remote_change"


def p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


class Scenario:
    def __init__(self, b: sync_bench.Bench, tasks: Tasks, receiver: Receiver) -> None:
        self.b, self.tasks, self.receiver = b, tasks, receiver
        self.feed = importlib.util.find_spec(FEED_MODULE) is not None

    def setup_tenant(self, slug: str, on_decline: str) -> tuple[str, uuid.UUID]:
        key = self.b.tenant(slug, self.b.owners)
        with unit_of_work(self.b.engine, dispatcher=lambda ids: None) as uow:
            tenant = uow.db.exec(select(Tenant).where(Tenant.slug == slug)).one()
            configure(uow, tenant, {"settings": {"webhooks": {"url": self.receiver.url},
                                                 "answers": {"on_decline": on_decline}},
                                    "webhook_secret": SECRET}, actor="bench", secret_keys=("b" * 40,),
                      allow_loopback_webhooks=True)  # the receiver listens on 127.0.0.1 (workers: see extra)
            return key, tenant.id

    def sessions(self, app: Any, key: str, prefix: str, n: int, enrolled: int, waitlisted: int) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        calls = []
        learners = self.b.learners
        for i in range(n):
            people = [learners[(i * (enrolled + waitlisted) + k) % len(learners)] for k in range(enrolled + waitlisted)]
            body = self.b.body(f"{prefix}-{i}", self.b.organizers[:1], people[:enrolled])
            body["enrollments"] += [{"email": e, "status": "waitlisted"} for e in people[enrolled:]]
            calls.append((f"/v1/sessions/{prefix}-{i}", body))
            out.append({"external_id": f"{prefix}-{i}", "enrolled": people[:enrolled], "waitlisted": people[enrolled:]})
        self.b.puts(app, key, calls)
        self.b.idle()
        if self.feed:
            self.follow()
        with Session(self.b.engine) as db:
            for s in out:
                row = db.exec(select(LiveSession).where(LiveSession.external_id == s["external_id"])).one()
                binding = db.exec(select(CalendarBinding).where(CalendarBinding.session_id == row.id)).one()
                s.update(id=row.id, calendar_id=binding.calendar_id, event_id=binding.event_id)
        return out

    def follow(self) -> None:
        """One feed clock pass (channels opened, first tokens taken), then wait until every calendar is followed."""
        from engine.feed import run as feed_run
        from engine.store.models import FeedCalendar

        rt = self.tasks.runtime
        assert rt.feeds is not None
        feed_run.clock_pass(self.b.engine, rt.feeds, rt.settings, self.tasks.enqueue_feed)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with Session(self.b.engine) as db:
                rows = db.exec(select(FeedCalendar)).all()
            if rows and all(r.sync_token is not None and r.channel_id is not None for r in rows):
                return
            time.sleep(0.2)
        raise TimeoutError("the calendars were not followed by push in 60 s")

    def answer(self, s: dict[str, Any], email: str, status: str) -> float:
        """Answer as ``email`` in Google; returns when. Without the feed, do what it does on noticing."""
        self.b.control("POST", f"calendars/{s['calendar_id']}/events/{s['event_id']}/responses",
                       {"email": email, "responseStatus": status})
        at = time.monotonic()
        if not self.feed:
            with unit_of_work(self.b.engine, dispatcher=lambda ids: None) as uow:
                binding = uow.db.exec(select(CalendarBinding).where(CalendarBinding.session_id == s["id"])).one()
                binding.remote_changed_at = utcnow()
                uow.db.add(binding)
            self.tasks.enqueue(s["id"], coalesce=False, background=True)
        return at

    def first_arrival(self, event_type: str, session_id: uuid.UUID, email: str) -> float | None:
        with self.receiver.lock:
            for r in self.receiver.requests:
                body = r.json
                data = body.get("data") or {}
                same = (body.get("type"), data.get("session_id"), data.get("email"))
                if same == (event_type, str(session_id), email):
                    return r.at
        return None

    def how(self) -> str:
        return "through the change feed by push, detection included" if self.feed else (
            "the reconcile asked for at the answer as the change feed does; its detection time is not included")


def rsvp(sc: Scenario, app: Any, n: int, rate: float) -> list[float]:
    key, _tid = sc.setup_tenant("bench-rsvp", "report_only")
    sessions = sc.sessions(app, key, "rsvp", max(1, n // 4), 4, 0)
    answers: list[tuple[dict[str, Any], str, float]] = []
    pairs = [(s, e) for s in sessions for e in s["enrolled"]][:n]
    for s, email in pairs:
        answers.append((s, email, sc.answer(s, email, random.choice(["accepted", "tentative", "declined"]))))
        time.sleep(1.0 / rate)
    deadline = time.monotonic() + 60
    latencies: list[float] = []
    for s, email, at in answers:
        while True:
            got = sc.first_arrival("enrollment.response_changed", s["id"], email)
            if got is not None or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        latencies.append((got if got is not None else float("inf")) - at)
    return latencies


def decline(sc: Scenario, app: Any, n: int, rate: float) -> list[float]:
    key, _tid = sc.setup_tenant("bench-decline", "cancel_and_promote")
    sessions = sc.sessions(app, key, "dec", n, 3, 2)
    started: list[tuple[dict[str, Any], float]] = []
    for s in sessions:
        started.append((s, sc.answer(s, s["enrolled"][0], "declined")))
        time.sleep(1.0 / rate)
    deadline = time.monotonic() + 60
    latencies: list[float] = []
    for s, at in started:
        promoted = s["waitlisted"][0]  # the first to join the waitlist
        while (str(s["id"]), promoted) not in sc.b.seen and time.monotonic() < deadline:
            time.sleep(0.05)
        seen = sc.b.seen.get((str(s["id"]), promoted))
        latencies.append((seen if seen is not None else float("inf")) - at)
    return latencies


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """This scenario's options in the driver (``bench/twoway.py``); the same as :func:`main`'s."""
    parser.add_argument("--answers", type=int, default=60, help="guest answers for rsvp_to_webhook")
    parser.add_argument("--declines", type=int, default=30, help="declines for decline_to_promotion")
    parser.add_argument("--answer-rate", type=float, default=4.0, help="answers (and declines) per second")


def figures(b: sync_bench.Bench, args: argparse.Namespace) -> list[str]:
    import uvicorn

    from engine.api.app import create_api
    from engine.runtime.worker import producer
    from engine.settings import load_settings

    port = free_port(API_PORTS.start, API_PORTS.stop - 1)
    extra = {"MUSTER_PUSH_URL": f"http://127.0.0.1:{port}/google/push", "MUSTER_FEED_POLL_S": "600",
             "MUSTER_WEBHOOKS_ALLOW_LOOPBACK": "1"}  # the webhook receiver listens on 127.0.0.1
    base_env = b.env
    b.env = lambda quota=600: {**base_env(quota), **extra}  # type: ignore[method-assign]
    b.start_workers()
    settings = load_settings(b.env())
    tasks = producer(settings, engine=b.engine)  # this process sends (the REST app's and the stand-in's work)
    app = create_api(settings, engine=b.engine)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.05)
    receiver = Receiver(SECRET).start()
    try:
        sc = Scenario(b, tasks, receiver)
        lines = []
        rs = rsvp(sc, app, args.answers, args.answer_rate)
        lines.append(f"rsvp_to_webhook_p50_s: {statistics.median(rs):.2f}")
        lines.append(f"rsvp_to_webhook_p99_s: {p(rs, 0.99):.2f} (goal <= 5; {len(rs)} answers at {args.answer_rate}/s; "
                     f"{sc.how()}; bad signatures {receiver.bad_signatures})")
        ds = decline(sc, app, args.declines, args.answer_rate)
        lines.append(f"decline_to_promotion_p50_s: {statistics.median(ds):.2f}")
        lines.append(f"decline_to_promotion_p99_s: {p(ds, 0.99):.2f} (goal <= 5; {len(ds)} declines at "
                     f"{args.answer_rate}/s, each promoting the first waitlisted learner onto the event; {sc.how()})")
        return lines
    finally:
        receiver.stop()
        server.should_exit = True
        b.stop_workers()  # they were started with this scenario's push URL: the next scenario starts its own
        b.env = base_env  # type: ignore[method-assign]




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
