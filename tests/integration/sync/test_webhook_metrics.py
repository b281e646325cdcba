"""Webhook deliveries show in the metrics: each attempt by event type and outcome, with its duration.

Where it sits: ``tests/integration/sync``, on the SQLite stack (the embedded worker records into this
process's registry, which :func:`engine.runtime.metrics.local_samples` reads, as ``/metrics`` exposes it).
Webhooks are set through the admin REST API; the receiver (``tests/webhook_receiver.py``) loses its first
two answers, so the first event takes two retries before it is delivered.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from engine.runtime import metrics
from tests.integration.sync.conftest import Stack, organizers, people, session_body
from tests.integration.sync.test_webhooks_e2e import SECRET, _configure
from tests.webhook_receiver import Receiver


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver(SECRET).start()
    try:
        yield r
    finally:
        r.stop()


def total(name: str, **labels: str) -> float:
    return sum(
        s.value for s in metrics.local_samples()
        if s.name == name and all(s.labels.get(k) == v for k, v in labels.items())
    )


def test_webhook_attempts_are_counted_by_event_type_and_outcome(sqlite_stack: Stack, receiver: Receiver) -> None:
    stack = sqlite_stack
    _configure(stack, {"settings": {"webhooks": {"url": receiver.url}}, "webhookSecret": SECRET})
    series = {"event_type": "session.sync_status_changed", "tenant": "acme"}
    before = {o: total("muster_webhook_deliveries_total", **series, outcome=o) for o in ("retry", "delivered")}
    receiver.fail_first = 2
    stack.put_session("s-hook-metrics", session_body(hosts=organizers()[:1], enrolled=people("m", 2)))
    stack.idle()
    receiver.wait_for(lambda: receiver.events("session.sync_status_changed"), timeout_s=45)
    deadline = time.monotonic() + 15  # the delivered attempt is recorded once the receiver has answered
    while time.monotonic() < deadline and total("muster_webhook_deliveries_total", **series, outcome="delivered") \
            == before["delivered"]:
        time.sleep(0.1)
    assert total("muster_webhook_deliveries_total", **series, outcome="retry") - before["retry"] == 2
    assert total("muster_webhook_deliveries_total", **series, outcome="delivered") - before["delivered"] == 1
    assert total("muster_webhook_delivery_duration_seconds_count", tenant="acme") >= 3
    text = metrics.exposition().decode()
    assert receiver.url not in text and SECRET not in text
