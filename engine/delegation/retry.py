"""Muster's own clock for a Meet link or a room that did not work out: retry with backoff, say when.

Where it sits: delegation mode, after the write. :meth:`engine.delegation.hooks.DelegationHooks.observe`
calls :func:`schedule` once :func:`engine.delegation.placement.record_outcome` has stored what Google
answered; the resolver asks :func:`meet_due` / :func:`room_due` whether a new Meet attempt or a fresh
room search may start now. Nobody has to re-save the session.

Rules:

* A Meet link that failed (``createRequest`` status ``failure``), stayed ``pending`` past its polls, or
  is missing from the event, and a wanted room that could not be booked (none fits, all busy, the room
  list unreadable, no answer from the room), are each retried: first after ``settings.meet_retry_min_s``,
  doubling up to ``settings.meet_retry_max_s``.
* The reason shown (``meet_error`` / ``room_error``) ends with when the next try is, and the binding's
  ``next_attempt_at`` holds that moment (REST ``sync.nextAttemptAt``). The worker's retry clock
  (:func:`engine.sync.sweep.enqueue_due_retries`) requeues the session's reconcile once that moment
  has passed; it lives in the database, so a restarted worker loses no retry.
* A reconcile that finds a try already scheduled (the drift sweep, an enrollment change) leaves it
  alone. Before the try is due nothing is re-requested (no new Meet ``requestId``, no Directory search),
  unless the session changed: a save retries at once.
* Success clears the counters. A room the organizer picked that declined needs a person, not a
  retry, and is not retried.

State lives in ``CalendarBinding.blocked_detail`` (``meet_retry_at``/``meet_retries``/``meet_retry_revision``
and the ``room_`` equivalents), so no migration is needed.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from engine.domain import meet
from engine.domain.desired import SessionFacts
from engine.settings import Settings
from engine.store.models import CalendarBinding
from engine.store.types import utcnow

#: The sentence that announces the next try; an older one is replaced, never repeated.
NEXT_TRY = "Muster tries again at"


def backoff(retries: int, *, low_s: int, high_s: int) -> timedelta:
    """The wait before try number ``retries + 1``: ``low_s`` doubling per try, capped at ``high_s``."""
    return timedelta(seconds=min(low_s * (2 ** min(max(retries, 0), 30)), high_s))


def _due(detail: dict[str, Any], kind: str, revision: int, now: datetime) -> bool:
    at = detail.get(f"{kind}_retry_at")
    if not at or detail.get(f"{kind}_retry_revision") != revision:
        return True
    try:
        return now >= datetime.fromisoformat(str(at))
    except ValueError:
        return True


def meet_due(binding: CalendarBinding | None, revision: int, now: datetime | None = None) -> bool:
    """May a failed Meet link get a new attempt now (no try scheduled, it is due, or the session changed)?"""
    return binding is None or _due(binding.blocked_detail or {}, "meet", revision, now or utcnow())


def room_due(binding: CalendarBinding | None, revision: int, now: datetime | None = None) -> bool:
    """May a room that could not be booked be searched for again now?"""
    return binding is None or _due(binding.blocked_detail or {}, "room", revision, now or utcnow())


def with_next_try(text: str | None, at: datetime) -> str:
    """``text`` ending with the moment of the next try (an older announcement is replaced)."""
    base = (text or "").split(f"; {NEXT_TRY}", 1)[0].split(f"{NEXT_TRY}", 1)[0].rstrip("; .")
    when = f"{NEXT_TRY} {at:%Y-%m-%d %H:%M:%S} UTC"
    return f"{base}; {when}" if base else when


#: What a Meet link or a room is doing, for the retry clock.
FAILED, WAITING, OK = "failed", "waiting", "ok"


def meet_state(facts: SessionFacts, binding: CalendarBinding) -> str:
    """``failed`` (retry it), ``waiting`` (polling a pending attempt: keep the counters) or ``ok``."""
    if facts.video != "meet" or not facts.wants_event or binding.event_id is None or binding.meet_link:
        return OK
    if binding.meet_status == meet.FAILURE:
        return FAILED
    if binding.meet_status == meet.PENDING:
        return FAILED if binding.meet_polls >= meet.MAX_POLLS else WAITING
    return FAILED if binding.meet_error else OK  # the event carries no conference although Meet is wanted


def room_state(facts: SessionFacts, binding: CalendarBinding, *, wanted: bool, picked: bool) -> str:
    """The same for a room Muster chooses (a room the organizer picked and that declined needs a person)."""
    if not wanted or picked or not facts.wants_event or binding.event_id is None:
        return OK
    if binding.room_email is None:
        return FAILED if binding.room_error else OK
    if binding.room_status == "needsAction":
        return FAILED if binding.room_error else WAITING
    return OK


def _one(
    detail: dict[str, Any],
    kind: str,
    state: str,
    revision: int,
    settings: Settings,
    now: datetime,
) -> datetime | None:
    """Update ``detail`` for one kind; return the moment of its next try (None: nothing to retry)."""
    if state == OK:
        for key in ("retry_at", "retries", "retry_revision"):
            detail.pop(f"{kind}_{key}", None)
        return None
    if state == WAITING:
        return None
    at = detail.get(f"{kind}_retry_at")
    if at and detail.get(f"{kind}_retry_revision") == revision:
        scheduled = datetime.fromisoformat(str(at))
        if now < scheduled:
            return scheduled  # a try is already scheduled: leave it
    retries = int(detail.get(f"{kind}_retries") or 0) if detail.get(f"{kind}_retry_revision") == revision else 0
    nxt = now + backoff(retries, low_s=settings.meet_retry_min_s, high_s=settings.meet_retry_max_s)
    detail[f"{kind}_retry_at"] = nxt.isoformat()
    detail[f"{kind}_retries"] = retries + 1
    detail[f"{kind}_retry_revision"] = revision
    return nxt


def schedule(
    binding: CalendarBinding,
    facts: SessionFacts,
    settings: Settings,
    *,
    room_wanted: bool,
    room_picked: bool,
    now: datetime | None = None,
) -> datetime | None:
    """Schedule (or clear) the Meet and room retries of ``binding``; return the moment of the next try."""
    now = now or utcnow()
    detail = dict(binding.blocked_detail or {})
    meet_at = _one(detail, "meet", meet_state(facts, binding), facts.revision, settings, now)
    room = room_state(facts, binding, wanted=room_wanted, picked=room_picked)
    room_at = _one(detail, "room", room, facts.revision, settings, now)
    if meet_at is not None:
        binding.meet_error = with_next_try(binding.meet_error, meet_at)
    if room_at is not None:
        binding.room_error = with_next_try(binding.room_error, room_at)
    binding.blocked_detail = detail
    pending = [at for at in (meet_at, room_at) if at is not None]
    if not pending:
        return None
    if binding.sync_status == "synced":
        binding.next_attempt_at = min(pending)
    return min(pending)
