"""Credentials for an :class:`~connectors.ports.calendar.Actor`: who Google sees acting, and how the token is minted.

Where it sits: ``connectors.google``, below :mod:`connectors.google.calendar`. The engine hands the
connector a :class:`CredentialSource`; the connector asks it for credentials per actor. Credentials are
cached per actor so tokens are reused until google-auth refreshes them.

Stable interface:

* :class:`CredentialSource` (Protocol) - ``credentials_for(actor, scopes)``.
* :class:`ServiceAccountSource` - Muster's service account key; ``vendor`` and ``delegated`` actors are
  impersonated with domain-wide delegation (``sub`` = ``actor.email``).
* :class:`CompositeSource` - routes ``oauth`` actors to another source (organizer delegation supplies a
  source that reads the connection's refresh token) and everything else to the service account.
* :func:`token_uri_for` - the token endpoint for a ``google_root_url`` (the emulator's ``/token``).

Token-endpoint failures surface from google-auth as ``RefreshError``; :mod:`connectors.google.classify`
turns them into :class:`~connectors.errors.AuthError` / :class:`~connectors.errors.RetriableError`.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any, Protocol

from connectors.errors import AuthError
from connectors.google.clients import GOOGLE_TOKEN_URI, service_account_credentials
from connectors.ports.calendar import Actor

#: Calendar scope every Muster identity uses.
CALENDAR_SCOPES: tuple[str, ...] = ("https://www.googleapis.com/auth/calendar",)


def token_uri_for(google_root_url: str | None) -> str:
    """Google's token endpoint, or ``<root>token`` when pointed at an emulator."""
    if google_root_url is None:
        return GOOGLE_TOKEN_URI
    return google_root_url.rstrip("/") + "/token"


class CredentialSource(Protocol):
    def credentials_for(self, actor: Actor, scopes: Sequence[str] = CALENDAR_SCOPES) -> Any:
        """google-auth credentials acting as ``actor``; raises ``AuthError`` when none can exist."""
        ...


class ServiceAccountSource:
    """Muster's service account, impersonating ``actor.email`` through domain-wide delegation."""

    def __init__(self, key_info: dict[str, Any], *, token_uri: str) -> None:
        if key_info.get("type") != "service_account" or "private_key" not in key_info:
            raise ValueError(
                "service account key: expected a JSON key file with type=service_account and a private_key"
            )
        self._info = dict(key_info)
        self._token_uri = token_uri
        self._cache: dict[tuple[str, tuple[str, ...]], Any] = {}
        self._lock = threading.Lock()

    @property
    def client_email(self) -> str:
        return str(self._info.get("client_email", ""))

    def credentials_for(self, actor: Actor, scopes: Sequence[str] = CALENDAR_SCOPES) -> Any:
        if actor.kind == "oauth":
            raise AuthError(
                f"{actor.email}: an OAuth identity cannot use the service account",
                identity=actor.email,
                reason="wrongIdentityKind",
            )
        key = (actor.key, tuple(scopes))
        with self._lock:
            creds = self._cache.get(key)
            if creds is None:
                creds = service_account_credentials(
                    self._info, scopes=scopes, subject=actor.email, token_uri=self._token_uri
                )
                self._cache[key] = creds
            return creds


class CompositeSource:
    """Routes ``oauth`` actors to ``oauth`` and the others to ``service_account``."""

    def __init__(
        self, *, service_account: CredentialSource | None, oauth: CredentialSource | None = None
    ) -> None:
        self._sa = service_account
        self._oauth = oauth

    def credentials_for(self, actor: Actor, scopes: Sequence[str] = CALENDAR_SCOPES) -> Any:
        source = self._oauth if actor.kind == "oauth" else self._sa
        if source is None:
            what = "an OAuth connection source" if actor.kind == "oauth" else "Muster's service account key"
            raise AuthError(
                f"{actor.email}: cannot act in Google: {what} is not configured",
                identity=actor.email,
                reason="notConfigured",
            )
        return source.credentials_for(actor, scopes)
