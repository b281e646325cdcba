"""``GET /metrics`` of the REST API: the database-backed gauges (sessions by status, outbox backlog) per scrape.

Where it sits: :mod:`engine.api.routes.metrics` through the real ASGI app, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import uuid

from engine.runtime import metrics
from engine.store import outbox
from tests.api.conftest import Api, session_body


def _value(text: str, name: str, **labels: str) -> float:
    return sum(
        s.value for s in metrics.parse(text)
        if s.name == name and all(s.labels.get(k) == v for k, v in labels.items())
    )


def test_metrics_show_sessions_by_status_and_the_outbox_backlog(api: Api) -> None:
    created = api.put("/v1/sessions/m-1", session_body())
    assert created.status_code == 201, created.text
    first = api.client.get("/metrics")
    assert first.status_code == 200 and first.headers["content-type"].startswith("text/plain")
    assert _value(first.text, "muster_sessions", tenant="tenant-a", sync_status="unsynced") == 1
    assert _value(first.text, "muster_sessions", tenant="tenant-b") == 0
    assert _value(first.text, "muster_outbox_waiting") == 1 and _value(first.text, "muster_outbox_unsent") == 0

    outbox.mark_unsent(api.engine, [uuid.UUID(created.json()["id"])])  # the hand-over to Redis failed
    second = api.client.get("/metrics").text
    assert _value(second, "muster_outbox_unsent") == 1
    assert _value(second, "muster_outbox_oldest_unsent_seconds") >= 0
    assert "@" not in "".join(v for s in metrics.parse(second) for v in s.labels.values())
