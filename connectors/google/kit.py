"""The Google implementation of :class:`connectors.ports.delegation.GoogleKit` (this module *is* the kit).

Where it sits: ``connectors.google``; the composition root hands it out through
:func:`engine.runtime.wiring.google_kit` and only sees the Protocol. It gathers the consent flow
(:mod:`~connectors.google.oauth_flow`), the check's probes (:mod:`~connectors.google.probe`), room
listing and free/busy (:mod:`~connectors.google.directory`), and builds the sync's credential source and
calendar port factory for delegation mode: delegated actors through Muster's service account
(:class:`~connectors.google.credentials.ServiceAccountSource`), OAuth actors through
:class:`OAuthConnectionSource`, which asks the engine for the stored refresh token.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable, Sequence
from typing import Any

from connectors.errors import AuthError
from connectors.google.calendar import GoogleCalendarFactory
from connectors.google.clients import user_credentials
from connectors.google.credentials import (
    CALENDAR_SCOPES,
    CompositeSource,
    CredentialSource,
    ServiceAccountSource,
    token_uri_for,
)
from connectors.google.directory import GoogleRoomDirectory
from connectors.google.oauth_flow import authorization_url, exchange_code, primary_calendar_email
from connectors.google.probe import calendar, meet_allowed, oauth_credentials, rooms, sa_credentials, token
from connectors.ports.calendar import Actor, CalendarPortFactory
from connectors.ports.delegation import CredentialSourceLike, OAuthLookup, RoomDirectory

__all__ = [
    "OAuthConnectionSource",
    "authorization_url",
    "calendar",
    "calendar_factory",
    "credential_source",
    "exchange_code",
    "meet_allowed",
    "oauth_credentials",
    "oauth_source",
    "primary_calendar_email",
    "room_directory",
    "rooms",
    "sa_credentials",
    "token",
]


class OAuthConnectionSource:
    """Credentials for ``oauth`` actors from their stored refresh token (looked up per call).

    Cached per (actor, token fingerprint, scopes): a reconnect stores a new refresh token, which gives
    new credentials without restarting; an ``invalid_grant`` from Google surfaces as ``AuthError``
    (``reason="invalid_grant"``) when the connector first refreshes.
    """

    def __init__(self, lookup: OAuthLookup, *, client_id: str, client_secret: str, token_uri: str) -> None:
        self._lookup = lookup
        self._client_id = client_id
        self._client_secret = client_secret
        self._token_uri = token_uri
        self._cache: dict[tuple[str, str, tuple[str, ...]], Any] = {}
        self._lock = threading.Lock()

    def credentials_for(self, actor: Actor, scopes: Sequence[str] = CALENDAR_SCOPES) -> Any:
        if actor.kind != "oauth":
            raise AuthError(
                f"{actor.email}: not an OAuth identity", identity=actor.email, reason="wrongIdentityKind"
            )
        secret = self._lookup(actor)
        wanted = tuple(scopes)
        missing = [s for s in wanted if secret.scopes and s not in secret.scopes]
        if missing:
            raise AuthError(
                f"{actor.email} did not grant {', '.join(missing)}; they must reconnect Google",
                identity=actor.email,
                reason="insufficientPermissions",
            )
        fingerprint = hashlib.sha256(secret.refresh_token.encode()).hexdigest()[:16]
        key = (actor.key, fingerprint, wanted)
        with self._lock:
            creds = self._cache.get(key)
            if creds is None:
                creds = user_credentials(
                    secret.refresh_token,
                    self._client_id,
                    self._client_secret,
                    wanted,
                    token_uri=self._token_uri,
                )
                self._cache[key] = creds
            return creds


def credential_source(
    *,
    service_account_info: dict[str, str] | None,
    root_url: str | None,
    oauth_lookup: OAuthLookup | None,
    client_id: str | None,
    client_secret: str | None,
) -> CredentialSourceLike:
    """The sync's credential source for delegation: service account for ``delegated``/``vendor`` actors,
    stored refresh tokens for ``oauth`` actors (either may be absent: ``AuthError`` names what is missing)."""
    token_uri = token_uri_for(root_url)
    sa: CredentialSource | None = None
    if service_account_info is not None:
        sa = ServiceAccountSource(dict(service_account_info), token_uri=token_uri)
    oauth: CredentialSource | None = None
    if oauth_lookup is not None and client_id and client_secret:
        oauth = OAuthConnectionSource(
            oauth_lookup, client_id=client_id, client_secret=client_secret, token_uri=token_uri
        )
    return CompositeSource(service_account=sa, oauth=oauth)


def oauth_source(
    lookup: OAuthLookup, *, client_id: str, client_secret: str, root_url: str | None
) -> CredentialSourceLike:
    """Credentials for ``oauth`` actors only (the ``oauth`` argument of the sync's port factory)."""
    return OAuthConnectionSource(
        lookup, client_id=client_id, client_secret=client_secret, token_uri=token_uri_for(root_url)
    )


def calendar_factory(
    credentials: CredentialSourceLike,
    *,
    root_url: str | None,
    on_call: Callable[[str, str, str], None] | None = None,
) -> CalendarPortFactory:
    return GoogleCalendarFactory(credentials, root_url=root_url, on_call=on_call)


def room_directory(
    credentials: CredentialSourceLike,
    *,
    root_url: str | None,
    directory_actor: Actor | None,
    calendar_actor: Actor,
) -> RoomDirectory:
    return GoogleRoomDirectory(
        credentials, root_url=root_url, directory_actor=directory_actor, calendar_actor=calendar_actor
    )
