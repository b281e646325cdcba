"""``note_remote_change``: the one entry point for "Google shows a change to a Muster event".

Where it sits: called by the change feed (:mod:`engine.feed.sync`) inside its unit of work, for each
changed event that maps to a binding and is not Muster's own last write (its etag differs from
``CalendarBinding.etag``). It marks the binding as changed in Google (``remote_changed_at``: the next
reconcile reads the event before writing, and clears the mark only if no newer one was made meanwhile),
records what it saw (``remote_etag``, ``remote_seen_at``: the feed skips a change it already noted; and
``remote_listed``, the event as listed, full resource with its etag, which the repair plans against instead
of reading the event again: its write carries ``If-Match`` on that etag, so a copy gone stale is never
written over), and asks for a background reconcile of the session once the transaction commits
(:func:`engine.sync.lanes.verify_after_commit`; never if it rolls back). A lost request is not lost work:
the mark stays, and the periodic sweep (:func:`engine.sync.sweep.sessions_needing_reconcile`) picks up
every marked binding. Answers, Google-side edits and deletions are then handled by the reconcile itself,
which sees the event.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session

from connectors.ports.calendar import RemoteEvent
from engine.domain import snapshot
from engine.store.models import CalendarBinding
from engine.store.types import utcnow
from engine.sync.lanes import verify_after_commit


def note_remote_change(
    db: Session, binding: CalendarBinding, remote_event: RemoteEvent | None, *, now: datetime | None = None
) -> None:
    """Mark ``binding`` as changed in Google (``remote_event`` as seen and kept as ``remote_listed`` unless
    cancelled; ``None``: the event is gone or was not listed itself, e.g. one instance of its series
    changed, and the repair reads it) and request a reconcile of its session
    after ``db`` commits."""
    when = now or utcnow()
    binding.remote_changed_at = when
    binding.remote_etag = remote_event.etag if remote_event is not None else None
    binding.remote_seen_at = when
    listed = remote_event is not None and bool(remote_event.etag) and not remote_event.is_cancelled
    binding.remote_listed = snapshot.dump(remote_event) if listed and remote_event is not None else None
    db.add(binding)
    verify_after_commit(db, binding.session_id)
