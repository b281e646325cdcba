"""Prometheus metrics during a real sync: ``muster serve``'s ``/metrics`` and each worker's endpoint.

Where it sits: ``tests/integration/sync`` on the PostgreSQL stack: two real ``muster worker`` processes on Redis
(:mod:`engine.runtime.worker_health` announces their endpoints in Redis) and a real ``muster serve`` started here;
the session is written through that server over HTTP and synced to the emulator. The series of
:mod:`engine.runtime.metrics` must carry the values this one sync produced, with bounded labels only, and the
admin Health page's reading (:func:`engine.runtime.metrics.snapshot`) must show the same numbers.
"""

from __future__ import annotations

import json
import socket
import subprocess
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

import httpx
import pytest

from engine.runtime import metrics
from tests.conftest import REPO_ROOT
from tests.integration.sync.conftest import Stack, organizers, people, session_body

pytestmark = [pytest.mark.postgres, pytest.mark.redis]


def free_port(low: int = 18700, high: int = 18799) -> int:
    for port in range(low, high + 1):
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port")


def total(samples: Iterable[metrics.Sample], name: str, **labels: str) -> float:
    return sum(s.value for s in samples if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()))


def wait_for_workers(expected: int) -> list[dict[str, object]]:
    """The workers announced in Redis, once at least ``expected`` are (they announce every few seconds)."""
    deadline = time.monotonic() + 20
    workers = metrics.registered_workers()
    while len(workers) < expected and time.monotonic() < deadline:
        time.sleep(0.2)
        workers = metrics.registered_workers()
    assert len(workers) >= expected, workers
    return workers


#: How long one worker may take to answer its ``/metrics`` here. Generous on purpose: the Health page's own
#: reading leaves out a worker slower than ``metrics.SCRAPE_TIMEOUT_S`` (1 s), and on a loaded machine a busy
#: worker can be, so a test reading it that way would see one worker's figures come and go.
SCRAPE_S = 30.0


def worker_samples(expected: int) -> list[metrics.Sample]:
    """Every announced worker's ``/metrics``, each waited for (one a test killed, whose announcement has not
    expired yet, refuses the connection and is left out)."""
    samples: list[metrics.Sample] = []
    for worker in wait_for_workers(expected):
        try:
            resp = httpx.get(str(worker["url"]).rstrip("/") + "/metrics", timeout=SCRAPE_S)
        except httpx.ConnectError:
            continue
        resp.raise_for_status()
        samples += metrics.parse(resp.text)
    return samples


@pytest.fixture
def serve(postgres_stack: Stack, tmp_path: Path) -> Iterator[str]:
    port = free_port()
    env = dict(postgres_stack.extra["workers"].env)
    log = open(tmp_path / "serve.log", "wb")  # noqa: SIM115
    proc = subprocess.Popen(
        [str(REPO_ROOT / ".venv" / "bin" / "muster"), "serve", "--port", str(port)],
        env=env, stdout=log, stderr=subprocess.STDOUT, cwd=str(REPO_ROOT),
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{base}/livez", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        else:
            pytest.fail("muster serve did not start: " + (tmp_path / "serve.log").read_text(errors="replace"))
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=15)
        log.close()


def test_serve_and_worker_metrics_show_the_sync(postgres_stack: Stack, serve: str) -> None:
    stack = postgres_stack
    before = worker_samples(2)

    body = session_body(hosts=organizers()[:1], enrolled=people("l", 3, start=300))
    resp = httpx.put(f"{serve}/v1/sessions/prom-1", json=body, headers=stack.auth, timeout=SCRAPE_S)
    assert resp.status_code == 201, resp.text
    session_id = resp.json()["id"]
    stack.idle()
    binding = stack.binding(stack.session_id("prom-1"))
    assert binding is not None and binding.sync_status == "synced"

    # muster serve: the enqueue it sent after the commit, the session gauge from the database, the version
    served = httpx.get(f"{serve}/metrics", timeout=SCRAPE_S)
    assert served.status_code == 200 and served.headers["content-type"].startswith("text/plain")
    web = metrics.parse(served.text)
    assert total(web, "muster_enqueues_total", kind="reconcile", result="sent") >= 1
    assert total(web, "muster_sessions", tenant="acme", sync_status="synced") == 1
    assert total(web, "muster_build_info") == 1

    # the workers: one reconcile of acme's session, one event inserted, its duration and queue wait observed
    after = worker_samples(2)

    def delta(name: str, **labels: str) -> float:
        return total(after, name, **labels) - total(before, name, **labels)

    assert delta("muster_reconciles_total", tenant="acme", outcome="success") >= 1
    # (other sessions' background work, e.g. a relay re-send, may add to the counters: at least this sync's)
    assert delta("muster_google_requests_total", tenant="acme", method="calendar.events.insert", status="200",
                 outcome="ok") >= 1
    assert delta("muster_sync_ops_total", tenant="acme", op="created") >= 1
    assert len(stack.emu.events_of(stack.session_id("prom-1"))) == 1
    assert delta("muster_reconcile_duration_seconds_count", tenant="acme") >= 1
    assert delta("muster_reconcile_duration_seconds_sum", tenant="acme") > 0
    assert delta("muster_queue_wait_seconds_count", actor="reconcile_session") >= 1
    assert delta("muster_messages_total", actor="reconcile_session", outcome="ok") >= 1

    # bounded labels: no email, no session id in any label value of either endpoint
    values = {v for s in web + after for v in s.labels.values()}
    assert not any("@" in v or session_id in v for v in values), sorted(values)

    # the Health page reads the same series for the tenant (this process has recorded nothing itself)
    inserted = total(after, "muster_google_requests_total", tenant="acme", method="calendar.events.insert",
                     status="200", outcome="ok")
    assert inserted >= 1
    snap = metrics.snapshot(stack.tenant_id, "acme")
    deadline = time.monotonic() + 30  # its 1 s scrape leaves out a worker that is slow to answer: read again
    while snap["google.insert.ok"] < inserted and time.monotonic() < deadline:
        time.sleep(0.2)
        snap = metrics.snapshot(stack.tenant_id, "acme")
    assert snap["google.insert.ok"] >= inserted
    # the per-identity figures reach Redis in batches, within about metrics.IDENTITY_USE_FLUSH_S
    deadline = time.monotonic() + 10 * metrics.IDENTITY_USE_FLUSH_S
    while not snap.get(f"identity.{binding.owner_email}.calls") and time.monotonic() < deadline:
        time.sleep(0.2)
        snap = metrics.snapshot(stack.tenant_id, "acme")
    assert snap[f"identity.{binding.owner_email}.calls"] >= 1


def test_worker_health_endpoint(postgres_stack: Stack) -> None:
    for worker in wait_for_workers(2):
        url = str(worker["url"])
        assert httpx.get(url + "livez", timeout=SCRAPE_S).json()["status"] == "ok"
        ready = httpx.get(url + "readyz", timeout=SCRAPE_S)
        assert ready.status_code == 200, ready.text
        assert ready.json()["checks"]["broker"]["state"] == "ok"


def test_muster_status_lists_the_live_workers(postgres_stack: Stack) -> None:
    env = dict(postgres_stack.extra["workers"].env)
    wait_for_workers(2)
    out = subprocess.run(
        [str(REPO_ROOT / ".venv" / "bin" / "muster"), "status", "--json"],
        env=env, capture_output=True, text=True, cwd=str(REPO_ROOT), timeout=60,
    )
    report = json.loads(out.stdout)
    assert report["broker"]["state"] == "ok"
    assert len(report["workers"]) >= 2 and all(w["ready"] for w in report["workers"]), report["workers"]
    assert report["database"]["state"] == "ok" and report["ready"] is True and out.returncode == 0, report
