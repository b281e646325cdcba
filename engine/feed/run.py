"""The feed clock's pass and the sweep's inline sync: which calendars to follow, their channels, their changes.

Where it sits: called by the worker's ``feed`` clock (:mod:`engine.runtime.worker`, every
``MUSTER_FEED_POLL_S``: refresh the calendars, keep the channels, enqueue a coalesced sync of each
calendar) and by the periodic drift sweep (:func:`engine.sync.sweep.sweep_changes`, which syncs each
calendar inline before it picks the sessions to reconcile). Each step is idempotent.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy.engine import Engine

from connectors.errors import ConnectorError
from connectors.ports.feed import ChangeFeedFactory
from engine.feed import calendars, channels
from engine.feed.sync import sync_calendar
from engine.settings import Settings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FeedPass:
    calendars: int
    pages: int = 0
    noted: int = 0
    failed: int = 0


def clock_pass(
    engine: Engine, feeds: ChangeFeedFactory, settings: Settings, enqueue: Callable[[uuid.UUID], object]
) -> FeedPass:
    """Refresh the followed calendars, open/renew/stop channels, and enqueue a sync of each calendar."""
    calendars.refresh(engine)
    report = channels.upkeep(engine, feeds, push_url=settings.push_url, secret_key=settings.secret_key,
                             ttl_s=settings.push_channel_ttl_s)
    if report.errors:
        log.warning("push channel upkeep: %d error(s): %s", len(report.errors), "; ".join(report.errors[:3]))
    ids = calendars.active_ids(engine)
    for feed_id in ids:
        enqueue(feed_id)
    return FeedPass(calendars=len(ids))


def sync_all(engine: Engine, feeds: ChangeFeedFactory) -> FeedPass:
    """Refresh the followed calendars and sync each one's changes now (errors are recorded per calendar)."""
    calendars.refresh(engine)
    pages = noted = failed = 0
    ids = calendars.active_ids(engine)
    for feed_id in ids:
        try:
            report = sync_calendar(engine, feeds, feed_id)
        except ConnectorError as exc:
            failed += 1
            log.warning("change sync of calendar %s failed: %s", feed_id, exc)
            continue
        if report is not None:
            pages += report.pages
            noted += report.noted
    return FeedPass(calendars=len(ids), pages=pages, noted=noted, failed=failed)
