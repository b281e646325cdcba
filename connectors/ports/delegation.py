"""Ports for organizer delegation: consent flow, connection probes, rooms and credentials, as Protocols.

Where it sits: ``connectors`` (bottom layer), next to :mod:`connectors.ports.calendar`. The engine's delegation
modules (:mod:`engine.delegation.oauth`, :mod:`engine.admin.connection_check`, :mod:`engine.delegation.placement`,
:mod:`engine.delegation.rooms`) depend
only on these types; :mod:`connectors.google.kit` implements :class:`GoogleKit` with the real Google
clients. Keeping the value types here lets the engine stay free of ``googleapiclient`` even indirectly
(import-linter contract); the engine reaches the implementation through :func:`engine.runtime.wiring.google_kit`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from connectors.ports.calendar import Actor, CalendarPortFactory


class OAuthExchangeError(Exception):
    """Google refused the code or the client; ``error`` is Google's code (``invalid_grant`` …)."""

    def __init__(self, error: str, description: str) -> None:
        self.error = error
        self.description = description
        super().__init__(f"{error}: {description}" if description else error)


class OAuthUnavailable(Exception):
    """Google's token endpoint could not be reached or answered 5xx; try again later."""


@dataclass(frozen=True)
class TokenGrant:
    access_token: str
    refresh_token: str | None
    scopes: tuple[str, ...]
    expires_in: int
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)


@dataclass(frozen=True)
class Probe:
    """One step of a connection check. ``code`` is Google's own error code/reason when not ok."""

    ok: bool
    code: str | None = None
    detail: str = ""
    data: dict[str, Any] | None = None


@dataclass(frozen=True)
class Availability:
    """One calendar's busy intervals in the asked window, or why Google could not tell."""

    busy: tuple[tuple[datetime, datetime], ...] = ()
    error: str | None = None

    def is_free(self, start: datetime, end: datetime) -> bool:
        """Free for ``[start, end)`` (busy ends are exclusive). Unknown availability counts as busy."""
        if self.error:
            return False
        return all(not (b_start < end and start < b_end) for b_start, b_end in self.busy)


@dataclass(frozen=True)
class SeriesInstance:
    """One occurrence of a recurring event as the organizer sees it (``events.instances``)."""

    instance_id: str  #: ``<eventId>_<YYYYMMDDTHHMMSSZ>``
    original_start: str  #: ``originalStartTime`` in UTC (``YYYY-MM-DDTHH:MM:SSZ``) - the occurrence's key
    start: datetime | None
    end: datetime | None
    cancelled: bool
    attendees: tuple[dict[str, Any], ...]  #: the instance's attendee list as Google returned it

    def room_answers(self) -> dict[str, str]:
        """``resource email -> responseStatus`` of the room attendees on this occurrence."""
        return {
            str(a.get("email", "")).lower(): str(a.get("responseStatus") or "needsAction")
            for a in self.attendees
            if a.get("resource")
        }


class RoomDirectory(Protocol):
    """Rooms from the Directory and their free/busy (one acting organizer)."""

    calls: int

    def list_rooms(self, *, building_id: str | None = None) -> list[dict[str, Any]]: ...

    def free_busy(self, emails: Sequence[str], start: datetime, end: datetime) -> dict[str, Availability]: ...

    def room_answers(self, calendar_id: str, event_id: str, room_email: str) -> list[tuple[str, str]]:
        """``(original start, responseStatus)`` of ``room_email`` on each instance of a recurring event."""
        ...

    def series_instances(self, calendar_id: str, event_id: str) -> list[SeriesInstance]:
        """Every instance of a recurring event (exceptions included), as the organizer."""
        ...

    def set_instance_attendees(self, calendar_id: str, instance_id: str, attendees: Sequence[dict[str, Any]]) -> None:
        """Patch one instance's attendee list (books or replaces a room on that date only)."""
        ...


@dataclass(frozen=True)
class OAuthSecret:
    """What an OAuth actor's credentials are made of (looked up by the engine, decrypted in memory)."""

    refresh_token: str
    scopes: tuple[str, ...]


#: ``Actor -> OAuthSecret``; raises ``connectors.errors.AuthError`` when the actor has no usable token.
OAuthLookup = Callable[[Actor], OAuthSecret]


class CredentialSourceLike(Protocol):
    def credentials_for(self, actor: Actor, scopes: Sequence[str] = ...) -> Any: ...


class GoogleKit(Protocol):
    """Everything delegation needs from Google, implemented by :mod:`connectors.google.kit`."""

    # consent flow
    def authorization_url(
        self,
        *,
        root_url: str | None,
        client_id: str,
        redirect_uri: str,
        scopes: Sequence[str],
        state: str,
        login_hint: str | None = None,
    ) -> str: ...

    def exchange_code(
        self,
        *,
        root_url: str | None,
        client_id: str,
        client_secret: str,
        code: str,
        redirect_uri: str,
        transport: Any = None,
    ) -> TokenGrant: ...

    def primary_calendar_email(self, *, root_url: str | None, access_token: str) -> str: ...

    # probes (connection check)
    def sa_credentials(
        self, info: dict[str, str], *, scopes: Sequence[str], subject: str | None, root_url: str | None
    ) -> Any: ...

    def oauth_credentials(
        self,
        *,
        refresh_token: str,
        client_id: str,
        client_secret: str,
        scopes: Sequence[str],
        root_url: str | None,
    ) -> Any: ...

    def token(self, credentials: Any) -> Probe: ...

    def calendar(
        self, credentials: Any, *, root_url: str | None, calendar_id: str = "primary", identity: str | None = None
    ) -> Probe: ...

    def meet_allowed(self, calendar_resource: dict[str, Any]) -> Probe: ...

    def rooms(
        self, credentials: Any, *, root_url: str | None, customer: str = "my_customer", identity: str | None = None
    ) -> Probe: ...

    # sync-time building blocks
    def credential_source(
        self,
        *,
        service_account_info: dict[str, str] | None,
        root_url: str | None,
        oauth_lookup: OAuthLookup | None,
        client_id: str | None,
        client_secret: str | None,
    ) -> CredentialSourceLike: ...

    def oauth_source(
        self, lookup: OAuthLookup, *, client_id: str, client_secret: str, root_url: str | None
    ) -> CredentialSourceLike: ...

    def calendar_factory(
        self,
        credentials: CredentialSourceLike,
        *,
        root_url: str | None,
        on_call: Callable[[str, str, str], None] | None = None,
    ) -> CalendarPortFactory: ...

    def room_directory(
        self,
        credentials: CredentialSourceLike,
        *,
        root_url: str | None,
        directory_actor: Actor | None,
        calendar_actor: Actor,
    ) -> RoomDirectory: ...
