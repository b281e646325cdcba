"""Google Meet for delegation-mode sessions: the conference wish, the ``requestId``, and what Google's
answer means for the binding.

Where it sits: :mod:`engine.delegation.placement` calls :func:`conference_wish` while building a session's
:class:`~engine.domain.desired.Placement`; after the executor wrote or read the event, the reconciler calls
:func:`observe` with the :class:`~connectors.ports.calendar.RemoteEvent` and stores the returned
:class:`MeetState` on the :class:`~engine.store.models.CalendarBinding`. Pure: no I/O, no ORM writes.

Rules (issue "Organizer delegation mode", §3):

* Each session's event asks Google for its *own* conference with a ``createRequest``; a link is never
  copied from another event (Google: "don't reuse Meet codes", reference §3.3), so two sessions never
  share a link.
* ``requestId`` = ``<event id>-m<attempt>``: stable within an attempt, so a retried write (lost answer,
  worker crash) is a no-op at Google ("If an ID provided is the same as for the previous request, the
  request is ignored"); a new attempt after a ``failure`` gets a new id.
* ``pending`` is polled by requeueing the reconcile with :func:`poll_delay` (1 s, 2 s, 4 s … capped at
  60 s), never by sleeping in a worker; after :data:`MAX_POLLS` the binding says so and Muster looks
  again on its own retry clock (:mod:`engine.delegation.retry`), with backoff.
* ``failure``: the event stays saved without a link, ``meet_error`` says why, and a new attempt starts
  when the retry clock says so (:mod:`engine.delegation.retry`) or at once when the session is saved.
  The connector sends ``conferenceDataVersion=1`` on every write, so later
  patches keep the conference.
* ``manual``: the organizer's link travels in location and description; ``none``: no conference.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from connectors.ports.calendar import Conference, RemoteEvent

#: Polls of a ``pending`` conference before the binding reports it as stuck (the next save retries).
MAX_POLLS = 8
#: Longest wait between two polls.
MAX_POLL_DELAY = timedelta(seconds=60)
#: First wait; doubles on each poll.
FIRST_POLL_DELAY = timedelta(seconds=1)

PENDING = "pending"
SUCCESS = "success"
FAILURE = "failure"


def request_id(event_id: str, attempt: int) -> str:
    """The Meet ``createRequest.requestId`` of one attempt (≤ 64 characters, deterministic)."""
    return f"{event_id[:40]}-m{max(attempt, 1)}"


def conference_wish(
    *, video: str, manual_link: str | None, event_id: str, attempt: int, meet_allowed: bool = True
) -> Conference:
    """The :class:`Conference` the event should carry for the session's video choice."""
    if video == "meet" and meet_allowed:
        return Conference(kind="meet", request_id=request_id(event_id, attempt))
    if video == "manual" and manual_link:
        return Conference(kind="manual", link=manual_link)
    return Conference()


def next_attempt(*, video: str, attempt: int, status: str | None, retry_due: bool = True) -> int:
    """The attempt number to use for this reconcile: a new one after a ``failure`` once its retry is due
    (or the first)."""
    if video != "meet":
        return attempt
    if attempt <= 0 or (status == FAILURE and retry_due):
        return attempt + 1
    return attempt


def poll_delay(polls: int) -> timedelta:
    """How long to wait before poll number ``polls + 1`` of a pending conference."""
    seconds = FIRST_POLL_DELAY.total_seconds() * (2 ** max(polls, 0))
    return min(timedelta(seconds=seconds), MAX_POLL_DELAY)


@dataclass(frozen=True)
class MeetState:
    """What to store on the binding after seeing the event, and whether to look again."""

    status: str | None  #: pending | success | failure | None (no Meet wanted)
    link: str | None
    error: str | None
    polls: int
    requeue_after: timedelta | None = None


def observe(
    remote: RemoteEvent | None, *, video: str, polls: int, expected_request_id: str | None
) -> MeetState:
    """Interpret the event Google holds after a write (or a read) for the Meet part of the binding."""
    if video != "meet":
        return MeetState(None, None, None, 0)
    if remote is None or remote.is_cancelled:
        return MeetState(None, None, None, 0)
    link = remote.spec.conference.link if remote.spec.conference.kind == "meet" else None
    status = remote.conference_status or (SUCCESS if link else None)
    if link and status in (SUCCESS, None):
        return MeetState(SUCCESS, link, None, 0)
    if status == FAILURE:
        return MeetState(
            FAILURE,
            None,
            "Google could not create a Meet link for this event (createRequest "
            "status failure); the event is saved without a link",
            0,
        )
    if status == PENDING:
        if polls >= MAX_POLLS:
            return MeetState(
                PENDING,
                None,
                f"Google has not finished creating the Meet link after {polls} "
                "checks",
                polls,
            )
        return MeetState(PENDING, None, None, polls + 1, poll_delay(polls))
    # No conference on the event although Meet is wanted: the write did not carry it (yet).
    return MeetState(None, None, "the event has no Meet conference yet", polls)
