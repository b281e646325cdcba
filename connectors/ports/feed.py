"""The change-feed port: what the engine needs to learn what changed on a calendar, and to be told.

Where it sits: ``connectors`` (bottom layer), beside :mod:`connectors.ports.calendar`. The engine's
change feed (``engine.feed``) lists a calendar's changes since a sync token and keeps a push channel
open on it; :class:`connectors.google.feed.GoogleChangeFeed` implements it with ``events.list``
(``syncToken``, every page followed, the token kept only from the last page), ``events.watch`` and
``channels.stop``. Errors are the classes of :mod:`connectors.errors`; an expired or invalidated sync
token is :class:`connectors.errors.SyncTokenExpiredError` (its own class: the caller runs a full resync of
that calendar).

Stable interface: :class:`Change`, :class:`ChangeBatch`, :class:`WatchedChannel`, :class:`ChangeFeedPort`
(``list_changes``, ``watch``, ``stop_channel``) and :data:`ChangeFeedFactory`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from connectors.ports.calendar import Actor, RemoteEvent


@dataclass(frozen=True)
class Change:
    """One changed item of a calendar. ``remote`` is the parsed event, ``None`` for a bare tombstone
    (Google guarantees only ``id`` on a deleted event seen through a sync)."""

    event_id: str
    status: str  #: confirmed | tentative | cancelled
    etag: str | None = None
    series_id: str | None = None  #: ``recurringEventId`` of a changed instance
    private: Mapping[str, str] = field(default_factory=dict)  #: private extended properties (the marker)
    remote: RemoteEvent | None = None


@dataclass(frozen=True)
class ChangeBatch:
    """Every change since the token (all pages), the token to store, and what it cost."""

    changes: tuple[Change, ...]
    next_sync_token: str
    pages: int
    full: bool  #: listed from scratch (no token given): absent events are gone


@dataclass(frozen=True)
class WatchedChannel:
    id: str
    resource_id: str
    expiration: datetime  #: aware UTC


class ChangeFeedPort(Protocol):
    actor: Actor

    def list_changes(self, calendar_id: str, sync_token: str | None) -> ChangeBatch:
        """Changes since ``sync_token`` (deletions included), or every event (tombstones included) when
        ``None``. Raises ``SyncTokenExpiredError`` when Google wants a full sync."""
        ...

    def watch(
        self, calendar_id: str, channel_id: str, address: str, token: str, ttl_s: int
    ) -> WatchedChannel:
        """Open a push channel on the calendar's events posting to ``address`` with ``token``."""
        ...

    def stop_channel(self, channel_id: str, resource_id: str) -> None:
        """Stop a channel. One Google no longer knows counts as stopped."""
        ...


#: Builds the feed port for an actor (one per acting identity), injected like ``CalendarPortFactory``.
ChangeFeedFactory = Callable[[Actor], ChangeFeedPort]
