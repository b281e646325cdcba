"""The Grafana dashboard and the Prometheus alert rules name only series Muster exports.

Where it sits: unit test over ``docs/monitoring/`` and :mod:`engine.runtime.metrics` (the names are read from the
registry itself, so renaming a series without updating the dashboard or the rules fails here).
"""

from __future__ import annotations

import json
import re

from engine.runtime import metrics
from tests.conftest import REPO_ROOT

MONITORING = REPO_ROOT / "docs" / "monitoring"
NAME = re.compile(r"\bmuster_[a-z_]+\b")


def exported() -> set[str]:
    metrics.series()
    from engine.store.outbox import Backlog

    registry = metrics.registry_for_scrape(
        metrics.sessions_collector(lambda: []),
        metrics.queue_depth_collector(lambda: 0),
        metrics.outbox_collector(lambda: Backlog(unsent=0, oldest_unsent_s=None, waiting=0)),
    )
    names: set[str] = set()
    for family in registry.collect():
        if family.type == "counter":
            names.add(family.name + "_total")
        elif family.type == "histogram":
            names.update(family.name + suffix for suffix in ("_bucket", "_count", "_sum"))
        else:
            names.add(family.name)
    return names


def test_dashboard_and_alert_rules_use_exported_series() -> None:
    dashboard = json.loads((MONITORING / "grafana-dashboard.json").read_text())
    exprs = [t["expr"] for panel in dashboard["panels"] for t in panel["targets"]]
    rules = (MONITORING / "muster-alerts.yml").read_text()
    used = {n for e in exprs for n in NAME.findall(e)} | set(NAME.findall(rules))
    known = exported()
    assert used and not (used - known), sorted(used - known)
    # the dashboard covers the series the operations guide calls essential
    for name in ("muster_reconciles_total", "muster_queue_wait_seconds_bucket", "muster_google_requests_total",
                 "muster_quota_waits_total", "muster_sessions", "muster_queue_depth"):
        assert any(name in e for e in exprs), name
    for alert in ("MusterSyncErrorsRising", "MusterQueueWaitHigh", "MusterQuotaSaturated", "MusterBrokerDown",
                  "MusterOutboxBacklog"):
        assert f"alert: {alert}" in rules


def test_operations_guide_documents_every_series() -> None:
    guide = (REPO_ROOT / "docs" / "operations.md").read_text()
    for name in exported():
        base = re.sub(r"_(bucket|count|sum)$", "", name)
        assert base in guide, base
