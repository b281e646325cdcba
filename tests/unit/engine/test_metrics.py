"""The Prometheus series of :mod:`engine.runtime.metrics`: bounded labels, tenant scope, multiprocess sums.

Where it sits: unit tests of the metrics module (no services). Multiprocess mode is exercised with real
separate processes writing into one folder, as ``muster worker --processes N`` does.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from engine.runtime import metrics
from tests.conftest import REPO_ROOT


@pytest.fixture(autouse=True)
def clean() -> Iterator[None]:
    metrics.configure(None)  # this process only: no worker registered in Redis by another test is read
    metrics.reset()
    yield
    metrics.reset()


def total(name: str, **labels: str) -> float:
    return sum(
        s.value for s in metrics.local_samples()
        if s.name == name and all(s.labels.get(k) == v for k, v in labels.items())
    )


def test_calls_are_labelled_by_tenant_slug_and_method_never_by_email() -> None:
    tenant = uuid.uuid4()
    with metrics.tenant_scope(tenant, "acme"):
        metrics.record_request("calendar.events.insert", "200", "ok")
        metrics.record_call("ada@acme.example", "insert", "ok")
        metrics.record_request("calendar.events.patch", "503", "retryable")
        metrics.record_call("ada@acme.example", "patch", "retryable")
    metrics.record_request("calendar.events.get", "200", "ok")  # outside a tenant's work
    metrics.record_call("ada@acme.example", "get", "ok")
    assert total("muster_google_requests_total", tenant="acme", method="calendar.events.insert", status="200",
                 outcome="ok") == 1
    assert total("muster_google_requests_total", tenant="acme", method="calendar.events.patch", status="503",
                 outcome="retryable") == 1
    assert total("muster_errors_total", tenant="acme", error_class="retryable") == 1
    assert total("muster_google_requests_total", tenant="none", method="calendar.events.get") == 1
    text = metrics.exposition().decode()
    assert "ada@acme.example" not in text and str(tenant) not in text
    assert f'muster_build_info{{version="{__import__("engine").version()}"}} 1.0' in text
    # the per-identity figures live beside the series, per tenant
    snap = metrics.snapshot(tenant)
    assert snap["identity.ada@acme.example.calls"] == 2 and snap["identity.ada@acme.example.errors"] == 1
    assert snap["google.calls"] == 2 and snap["google.writes"] == 2 and snap["error.retryable"] == 1
    assert metrics.snapshot(uuid.uuid4())["google.calls"] == 0


def test_enqueue_ops_sweep_and_quota_series() -> None:
    metrics.incr("enqueue.sent")
    metrics.incr("enqueue.coalesced")
    metrics.incr("enqueue.transfer_sent")
    with metrics.tenant_scope(uuid.uuid4(), "globex"):
        metrics.incr("ops.created")
        metrics.record_quota_wait("user:ada@globex.example", "slept")
        metrics.record_quota_wait("project:sa@proj.example", "deferred")
        metrics.observe_reconcile(0.3)
    metrics.set_value("sweep.last_at", 1_700_000_000)
    assert total("muster_enqueues_total", kind="reconcile", result="coalesced") == 1
    assert total("muster_enqueues_total", kind="transfer", result="sent") == 1
    assert total("muster_sync_ops_total", tenant="globex", op="created") == 1
    assert total("muster_quota_waits_total", tenant="globex", bucket="user", outcome="slept") == 1
    assert total("muster_quota_waits_total", tenant="globex", bucket="project", outcome="deferred") == 1
    assert total("muster_reconcile_duration_seconds_count", tenant="globex") == 1
    assert total("muster_reconcile_duration_seconds_bucket", tenant="globex", le="0.5") == 1
    snap = metrics.snapshot()
    assert snap["enqueue.sent"] == 1 and snap["enqueue.transfer_sent"] == 1 and snap["sweep.last_at"] == 1_700_000_000
    metrics.incr("outbox.sent", 3)  # other events of the code, by name
    assert total("muster_events_total", event="outbox.sent") == 3
    metrics.incr("identity.ada@acme.example.calls")  # data in a name: dropped, never a label, never raised
    assert "ada@acme.example" not in metrics.exposition().decode()


def test_push_channel_feed_and_webhook_series() -> None:
    tenant = uuid.uuid4()
    with metrics.tenant_scope(tenant, "acme"):
        metrics.record_push_notification("accepted")
        metrics.record_push_notification("accepted")
        metrics.record_push_notification("unknown_channel")
        metrics.record_push_channel("watch", "ok")
        metrics.record_push_channel("renew", "retryable")
        metrics.record_change_feed_read("changes")
        metrics.record_change_feed_read("token_expired")
        metrics.record_webhook_delivery("session.changed_in_google", "delivered", 0.2)
        metrics.record_webhook_delivery("enrollment.promoted", "retry", 3.0)
        metrics.record_webhook_delivery("enrollment.promoted", "https://platform.example/hook?t=x", None)
    assert total("muster_push_notifications_total", tenant="acme", result="accepted") == 2
    assert total("muster_push_notifications_total", tenant="acme", result="unknown_channel") == 1
    assert total("muster_push_channel_ops_total", tenant="acme", op="renew", outcome="retryable") == 1
    assert total("muster_change_feed_reads_total", tenant="acme", outcome="token_expired") == 1
    assert total("muster_webhook_deliveries_total", tenant="acme", event_type="session.changed_in_google",
                 outcome="delivered") == 1
    assert total("muster_webhook_deliveries_total", tenant="acme", event_type="enrollment.promoted",
                 outcome="other") == 1
    assert total("muster_webhook_delivery_duration_seconds_count", tenant="acme") == 2
    assert total("muster_webhook_delivery_duration_seconds_bucket", tenant="acme", le="0.25") == 1
    assert "platform.example" not in metrics.exposition().decode()
    snap = metrics.snapshot(tenant, "acme")
    assert snap["push.accepted"] == 2 and snap["webhook.delivered"] == 1 and snap["webhook.retry"] == 1
    assert "push.accepted" not in metrics.snapshot(uuid.uuid4())


CHILD = """
from engine.runtime import metrics
import uuid
with metrics.tenant_scope(uuid.uuid4(), "acme"):
    metrics.record_reconcile("success")
    metrics.observe_reconcile(0.2)
metrics.message_finished("reconcile_session", "ok")
"""


def test_processes_sharing_a_folder_add_up(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    env = {**os.environ, metrics.MULTIPROC_ENV: str(tmp_path), "PYTHONPATH": str(REPO_ROOT)}
    for _ in range(2):
        subprocess.run([sys.executable, "-c", CHILD], env=env, check=True, cwd=REPO_ROOT)
    monkeypatch.setenv(metrics.MULTIPROC_ENV, str(tmp_path))
    assert total("muster_reconciles_total", tenant="acme", outcome="success") == 2
    assert total("muster_reconcile_duration_seconds_count", tenant="acme") == 2
    assert total("muster_messages_total", actor="reconcile_session", outcome="ok") == 2
    assert total("muster_worker_last_message_timestamp_seconds") > 0
