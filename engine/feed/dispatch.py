"""Where "sync this calendar's changes" requests go (a push notification, the feed clock).

Where it sits: like :func:`engine.store.unit_of_work.set_dispatcher` for reconciles. The task layer
installs a function that enqueues the ``sync_feed`` actor, coalesced per calendar
(:meth:`engine.runtime.actors.Tasks.enqueue_feed`); ``POST /google/push`` and the feed clock call
:func:`request_sync`. With none installed (a web process without a worker), the request is dropped:
the feed clock's next pass syncs the calendar anyway (level-triggered).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable

log = logging.getLogger(__name__)

#: Called with a :class:`~engine.store.models.FeedCalendar` id; returns False when a sync was already queued.
FeedDispatcher = Callable[[uuid.UUID], object]

#: Called with (feed id, channel id, resource id) of a stale channel to stop.
StopDispatcher = Callable[[uuid.UUID, str, str], object]

_dispatcher: FeedDispatcher | None = None
_stopper: StopDispatcher | None = None


def set_feed_dispatcher(fn: FeedDispatcher | None, stop: StopDispatcher | None = None) -> None:
    global _dispatcher, _stopper
    _dispatcher, _stopper = fn, stop


def request_stop(feed_id: uuid.UUID, channel_id: str, resource_id: str) -> None:
    """Ask for a stale channel to be stopped (after its notification was answered). Never raises."""
    fn = _stopper
    if fn is None:
        return  # the channel ends at its expiration; its notifications are answered and ignored meanwhile
    try:
        fn(feed_id, channel_id, resource_id)
    except Exception as exc:
        log.warning("could not queue the stop of push channel %s (%s)", channel_id, exc)


def request_sync(feed_id: uuid.UUID) -> bool:
    """Ask for an incremental sync of one calendar soon. Never raises into the caller."""
    fn = _dispatcher
    if fn is None:
        return False
    try:
        return fn(feed_id) is not False
    except Exception as exc:  # the broker is down: the feed clock syncs the calendar on its next pass
        log.warning("could not queue a change sync of calendar %s (%s); the feed clock will", feed_id, exc)
        return False
