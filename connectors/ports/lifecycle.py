"""Directory-user and Data Transfer ports: value types and Protocols the organizer lifecycle needs.

Where it sits: ``connectors`` (bottom layer), next to :mod:`connectors.ports.calendar`. The engine
(:mod:`engine.lifecycle`) depends only on these; :mod:`connectors.google.directory_users` implements them
with the real Google client. Kept apart from the implementation so the engine never imports
``googleapiclient``, even indirectly (import-linter contract).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from connectors.ports.calendar import Actor

#: The Calendar application's id in the Data Transfer API (reference §5.3).
CALENDAR_APPLICATION_ID = "435070579839"
#: Data Transfer states after which nothing more will happen.
TRANSFER_DONE = frozenset({"completed", "failed"})


@dataclass(frozen=True)
class DirectoryUser:
    """The Directory fields the lifecycle uses."""

    id: str
    email: str
    suspended: bool
    suspension_reason: str | None
    deleted: bool = False

    @classmethod
    def from_json(cls, data: dict[str, Any], *, deleted: bool = False) -> DirectoryUser:
        return cls(id=str(data.get("id", "")), email=str(data.get("primaryEmail", "")).lower(),
                   suspended=bool(data.get("suspended", False)),
                   suspension_reason=data.get("suspensionReason"),
                   deleted=deleted or bool(data.get("deletionTime")))


@dataclass(frozen=True)
class TransferStatus:
    """One Data Transfer as Google reports it."""

    id: str
    status: str  #: overall status: new | inProgress | completed | failed
    old_owner_id: str
    new_owner_id: str

    @property
    def done(self) -> bool:
        return self.status in TRANSFER_DONE

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TransferStatus:
        return cls(id=str(data.get("id", "")), status=str(data.get("overallTransferStatusCode", "")),
                   old_owner_id=str(data.get("oldOwnerUserId", "")),
                   new_owner_id=str(data.get("newOwnerUserId", "")))



class DirectoryUsersPort(Protocol):
    """Directory ``users`` reads (acting as the tenant's Directory admin)."""

    def suspended(self) -> list[DirectoryUser]:
        """Every suspended user of the customer."""
        ...

    def deleted(self) -> list[DirectoryUser]:
        """Users deleted recently enough for Google to still list them."""
        ...

    def get(self, email: str) -> DirectoryUser | None:
        """One user by primary email or id; ``None`` when unknown."""
        ...


class DataTransferPort(Protocol):
    """Data Transfer API for the Calendar application."""

    def start(self, old_owner_id: str, new_owner_id: str, *, release_resources: bool) -> TransferStatus:
        """Ask Google to move the old owner's future primary-calendar events to the new owner."""
        ...

    def get(self, transfer_id: str) -> TransferStatus:
        """The transfer's current status."""
        ...


class CalendarSharingPort(Protocol):
    """Calendar ACL writes acting as a calendar's owner (used around ``events.move``)."""

    def share(self, calendar_id: str, email: str, role: str = "writer") -> None:
        """Give ``email`` ``role`` on ``calendar_id`` without notifying anyone."""
        ...

    def unshare(self, calendar_id: str, email: str) -> None:
        """Remove ``email``'s rule on ``calendar_id``; a rule already gone counts as done."""
        ...


class LifecycleKit(Protocol):
    """What the organizer lifecycle needs from Google (implemented by ``connectors.google.lifecycle_kit``)."""

    def directory_users(self, *, service_account_info: dict[str, Any], admin_email: str,
                        root_url: str | None) -> DirectoryUsersPort: ...

    def data_transfers(self, *, service_account_info: dict[str, Any], admin_email: str,
                       root_url: str | None) -> DataTransferPort: ...

    def sharing_factory(self, source: Any, *,
                        root_url: str | None) -> Callable[[Actor], CalendarSharingPort]: ...
