"""Notification policy: which Google writes email the guests (``sendUpdates=all``) and which stay silent.

Where it sits: pure policy-as-data, used by :mod:`engine.domain.plan` when it turns a difference into patches.
Imports nothing from the project but :mod:`policies.schema` (its settings are declared once, by
:class:`NotificationSettings`). The reasoning, with sources, is in ``docs/notifications.md``.

Google cannot address a notification to some guests only: a write sent with ``sendUpdates=all``
e-mails *every* guest of the event (an invitation to added guests, a cancellation to removed ones and an
"updated invitation" to everyone who stays), whatever changed (discovery: "Notifications are sent to all
guests"; googleapis/google-api-nodejs-client#3310: adding one attendee e-mails all attendees). The
emulator models exactly that. So:

* time, recurrence, place, join link, cancellation and restoration are written with ``all``: every guest
  must hear about them, one e-mail each;
* cosmetic edits (title typo, description) and guest-permission changes go out with ``none``;
* membership changes alone (a learner enrolled, unenrolled, promoted from the waitlist) go out with
  ``none`` by default: the added learner's calendar gets the event, the removed learner's loses it, and
  the thirty others are not e-mailed about someone else. A tenant that wants Google's invitation e-mail
  for every newcomer sets ``{"membership_emails": true}`` and accepts one "update" per coalesced batch
  for the others;
* a membership change that travels with a loud change goes out in that one loud write (the newcomer gets
  the invitation, the others the one update they were getting anyway);
* a loud write never carries nothing but a cosmetic field, and a cosmetic field travels with a loud write
  only when that write e-mails everyone anyway (one e-mail per guest per meaningful change).

Field group names are those of ``connectors.ports.calendar.FIELDS`` (kept as plain strings here).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from pydantic import Field, field_validator

from policies.schema import SettingsSection

SendUpdates = Literal["all", "none"]

#: Every field group a patch can carry (mirrors ``connectors.ports.calendar.FIELDS``).
KNOWN_FIELDS: frozenset[str] = frozenset(
    {
        "summary",
        "description",
        "location",
        "time",
        "recurrence",
        "attendees",
        "guests",
        "conference",
        "marker",
        "status",
    }
)
#: Changes every guest must hear about (membership is not one of them by default; see the module doc).
DEFAULT_NOTIFY_ON: frozenset[str] = frozenset({"time", "recurrence", "location", "conference", "status"})
#: Bookkeeping groups that never notify and never justify a write of their own beside others.
NEUTRAL: frozenset[str] = frozenset({"marker"})
#: Group that only changes who is invited (Google notifies only the added / removed people for it).
MEMBERSHIP = "attendees"


class NotificationSettings(SettingsSection):
    """``Tenant.settings["notifications"]``: which changes e-mail every guest, and membership e-mails."""

    section: ClassVar[str] = "notifications"
    not_object: ClassVar[str] = 'must be an object like {"membership_emails": false}'

    notify_on: list[str] = Field(
        default_factory=lambda: sorted(DEFAULT_NOTIFY_ON),
        description="Field groups whose change e-mails every guest (sendUpdates=all); status always does.",
    )
    membership_emails: bool = Field(
        default=False, description="E-mail Google's invitation to each added learner (and an update to the others)."
    )

    @field_validator("notify_on")
    @classmethod
    def _known_fields(cls, value: list[str]) -> list[str]:
        unknown = set(value) - KNOWN_FIELDS
        if unknown:
            raise ValueError(f"unknown field(s) {sorted(unknown)}; use some of {sorted(KNOWN_FIELDS)}")
        return sorted(set(value))


@dataclass(frozen=True)
class NotificationPolicy:
    """Which field groups notify. Build from tenant settings with :meth:`from_settings`."""

    notify_on: frozenset[str] = DEFAULT_NOTIFY_ON

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any] | None) -> NotificationPolicy:
        """Build from ``Tenant.settings["notifications"]`` (validated by :class:`NotificationSettings`).

        Raises ``ValueError`` naming the bad field and what is allowed.
        """
        parsed = NotificationSettings.parse(settings)
        notify = frozenset(parsed.notify_on) | {"status"}  # cancellation / restoration always notify
        return cls(notify | {MEMBERSHIP} if parsed.membership_emails else notify - {MEMBERSHIP})

    def on_create(self) -> SendUpdates:
        """Creating the event invites everyone on it."""
        return "all"

    def on_delete(self) -> SendUpdates:
        """Deleting (session cancelled or removed) tells every guest."""
        return "all"

    def on_restore(self) -> SendUpdates:
        """Reopening a cancelled session re-invites its guests."""
        return "all"

    def split(self, changed: Collection[str]) -> list[tuple[frozenset[str], SendUpdates]]:
        """Group changed fields into patches, each with its ``sendUpdates``; quiet patches come first.

        * nothing loud → one silent patch;
        * a detail learners must hear about (time, place, link ...) → one loud patch with everything;
        * only membership is loud → the cosmetic part silently, then the attendees loudly, so existing
          guests receive nothing and added / removed guests exactly one email.
        """
        fields = frozenset(changed)
        neutral = fields & NEUTRAL
        groups = self._groups(fields - neutral)
        if not groups:
            return [(neutral, "none")] if neutral else []
        last_fields, last_send = groups[-1]
        groups[-1] = (last_fields | neutral, last_send)  # the marker rides along with the last write
        return groups

    def _groups(self, fields: frozenset[str]) -> list[tuple[frozenset[str], SendUpdates]]:
        if not fields:
            return []
        loud = fields & self.notify_on
        quiet = fields - loud
        if not loud:
            return [(quiet, "none")]
        if loud - {MEMBERSHIP}:
            return [(fields, "all")]
        out: list[tuple[frozenset[str], SendUpdates]] = []
        if quiet:
            out.append((quiet, "none"))
        out.append((loud, "all"))
        return out
