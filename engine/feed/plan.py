"""Pure decisions of the change feed: which bindings a batch of changes concerns, and what a channel needs.

Where it sits: called by :mod:`engine.feed.sync` (changes → bindings) and :mod:`engine.feed.channels`
(channel upkeep, notification verdicts). No I/O; table tests in ``tests/unit/engine/test_feed_plan.py``.

Rules of :func:`changed_bindings`:

* a change maps to the binding whose ``event_id`` is the change's id (or, for a changed instance of a
  series, its ``recurringEventId``); a change carrying Muster's marker for a session with no binding on
  this calendar maps to that session's binding wherever it is (an event moved here by hand);
* a change whose etag is the binding's ``etag`` (what Muster last wrote or read) or ``remote_etag``
  (already noted) is skipped: Muster's own write, or a repeat, never a loop;
* in a full listing, a written binding whose event is absent is noted as gone (``None``).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from connectors.ports.feed import Change, ChangeBatch
from engine.domain.event_ids import owned_session


@dataclass(frozen=True)
class BindingView:
    """What the plan needs of a :class:`~engine.store.models.CalendarBinding`."""

    id: uuid.UUID
    session_id: uuid.UUID
    event_id: str | None
    etag: str | None
    remote_etag: str | None = None


@dataclass(frozen=True)
class Noted:
    binding_id: uuid.UUID
    change: Change | None  #: None: the event is absent from a full listing
    #: The etag of the change that made it noted (None: absent from a full listing).
    etag: str | None = None


def marker_sessions(batch: ChangeBatch) -> set[uuid.UUID]:
    """Sessions named by the marker of a changed event (to look up bindings the event ids do not find)."""
    out: set[uuid.UUID] = set()
    for change in batch.changes:
        owned = owned_session(change.private)
        if owned is not None:
            out.add(owned[1])
    return out


def changed_bindings(
    batch: ChangeBatch,
    on_calendar: Sequence[BindingView],
    by_session: Mapping[uuid.UUID, BindingView] | None = None,
) -> list[Noted]:
    """The bindings ``batch`` reports as changed in Google (each once, in the order of the changes)."""
    by_event = {b.event_id: b for b in on_calendar if b.event_id}
    by_session = by_session or {}
    out: dict[uuid.UUID, Noted] = {}
    seen_events: set[str] = set()
    for change in batch.changes:
        seen_events.add(change.event_id)
        binding = by_event.get(change.event_id)
        own_event = binding is not None
        if binding is None and change.series_id:
            binding = by_event.get(change.series_id)
        if binding is None:
            owned = owned_session(change.private)
            binding = by_session.get(owned[1]) if owned is not None else None
        if binding is None or binding.id in out:
            continue
        if change.etag is not None and change.etag in (binding.etag, binding.remote_etag):
            continue  # Muster's own last write (or a change already noted)
        out[binding.id] = Noted(binding.id, change if own_event else None, change.etag)
    if batch.full:
        for b in on_calendar:
            if b.event_id and b.etag and b.event_id not in seen_events and b.id not in out:
                out[b.id] = Noted(b.id, None)
    return list(out.values())


ChannelAction = Literal["watch", "renew", "stop", "keep"]


def channel_action(
    *,
    active: bool,
    push: bool,
    channel_id: str | None,
    expires_at: datetime | None,
    now: datetime,
    renew_before: timedelta,
) -> ChannelAction:
    """What a calendar's push channel needs now: open one, replace it before it expires, stop it, or keep it."""
    has_channel = channel_id is not None
    if not active or not push:
        return "stop" if has_channel else "keep"
    if not has_channel or expires_at is None or expires_at <= now:
        return "watch"
    if expires_at - now <= renew_before:
        return "renew"
    return "keep"


Verdict = Literal["sync", "ignore", "stop", "forged", "bad"]


def push_verdict(
    *,
    state: str | None,
    channel_id: str | None,
    token_ok: bool,
    known_channel_id: str | None,
    active: bool,
) -> Verdict:
    """How to answer one notification. ``known_channel_id``: the current channel of the calendar the
    channel id names (None when the id names no calendar Muster follows).

    ``sync`` (an ``exists``/``not_exists`` on the current channel: sync the calendar), ``ignore`` (a
    channel's first ``sync`` message, which Google may send before the watch call has answered, so
    before Muster knows the channel), ``stop`` (a channel of ours that is stale or of a calendar no longer
    followed: answer and stop it), ``forged`` (the token does not verify), ``bad`` (headers missing)."""
    if not channel_id or not state:
        return "bad"
    if not token_ok:
        return "forged"
    if state == "sync":  # a new channel's first message may arrive before Muster stored the channel
        return "ignore"
    if known_channel_id != channel_id or not active:
        return "stop"
    return "sync"


def views(rows: Iterable[tuple[uuid.UUID, uuid.UUID, str | None, str | None, str | None]]) -> list[BindingView]:
    """``(id, session_id, event_id, etag, remote_etag)`` rows as :class:`BindingView` values."""
    return [BindingView(*row) for row in rows]
