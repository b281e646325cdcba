"""Answers policy: what Muster does when a learner declines the invitation in Google.

Where it sits: pure policy data (``policies`` layer; imports nothing from the project but
:mod:`policies.schema`). :mod:`engine.sync.answers` reads each guest's answer from the event a reconcile
observed, stores it on the enrollment, and asks :func:`decide` what a change of answer calls for.

``Tenant.settings["answers"]``, declared once by :class:`AnswersSettings`:

* ``on_decline``: ``report_only`` (the default: the answer is stored, shown and told to the platform by
  webhook; the learner stays enrolled and invited) or ``cancel_and_promote`` (as PlusPlus's "unenroll on
  calendar event decline": the enrollment is cancelled, which removes the learner from the event, and
  the first learner on the waitlist is enrolled in their place, who is then added to the event).

Only an *enrolled* learner's change to ``declined`` counts: a learner who was already declined when the
tenant switched the policy on is not cancelled retroactively (the change is what triggers it), and a
host's decline is only reported. Nothing here does I/O or reads a clock.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from pydantic import Field

from policies.schema import SettingsSection

#: Google's ``EventAttendee.responseStatus`` values.
RESPONSE_STATUSES: tuple[str, ...] = ("needsAction", "declined", "tentative", "accepted")

OnDecline = Literal["report_only", "cancel_and_promote"]


class AnswersSettings(SettingsSection):
    """``Tenant.settings["answers"]``: what a learner's decline in Google does."""

    section: ClassVar[str] = "answers"
    not_object: ClassVar[str] = 'must be an object like {"on_decline": "report_only"}'

    on_decline: OnDecline = Field(
        default="report_only",
        description="report_only: store and report the answer; cancel_and_promote: cancel the enrollment "
        "and enroll the first waitlisted learner, who is added to the event.",
    )


class Action(enum.StrEnum):
    NONE = "none"  #: the answer is stored and reported; nothing else changes
    CANCEL_AND_PROMOTE = "cancel_and_promote"  #: cancel this enrollment, enroll the next waitlisted learner


@dataclass(frozen=True)
class AnswerChange:
    """One guest's answer changed between what Muster had stored and what Google shows."""

    email: str
    old: str | None
    new: str
    enrollment_status: str | None  #: ``enrolled`` / ``waitlisted`` / ``cancelled``; None for a host


def decide(settings: Mapping[str, Any] | None, change: AnswerChange) -> Action:
    """What ``change`` calls for under the tenant's ``answers`` settings. Pure."""
    parsed = AnswersSettings.parse(settings)
    if (
        parsed.on_decline == "cancel_and_promote"
        and change.new == "declined"
        and change.old != "declined"
        and change.enrollment_status == "enrolled"
    ):
        return Action.CANCEL_AND_PROMOTE
    return Action.NONE


def next_waitlisted(waitlist: Sequence[tuple[str, Any]]) -> str | None:
    """The learner to promote: the earliest on the waitlist (``(email, joined_at)`` pairs), or None."""
    if not waitlist:
        return None
    return min(waitlist, key=lambda pair: (pair[1], pair[0]))[0]
