"""Google's OAuth 2.0 authorization-code flow, as HTTP: the consent URL, the code exchange, "who is this".

Where it sits: ``connectors.google``, called by :mod:`engine.delegation.oauth` (which signs the ``state``, checks
the person and stores the refresh token encrypted). Nothing here touches the database or keeps tokens.

Endpoints: Google's are ``https://accounts.google.com/o/oauth2/v2/auth`` (consent page) and
``https://oauth2.googleapis.com/token``; with a ``root_url`` (the emulator) both live under it
(``{root}o/oauth2/v2/auth`` and ``{root}token``), as ``google-auth`` and the emulator agree.

Errors: :class:`OAuthExchangeError` carries Google's ``error`` code (``invalid_grant``,
``redirect_uri_mismatch``, ``invalid_client`` ...) and a sentence for the person; transport failures are
:class:`OAuthUnavailable` (retry later).
"""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import urlencode

import httpx
from google.oauth2 import credentials as user_creds
from googleapiclient.errors import HttpError

from connectors.errors import RetriableError
from connectors.google import pacing
from connectors.google.clients import GOOGLE_TOKEN_URI, build_service
from connectors.ports.delegation import OAuthExchangeError, OAuthUnavailable, TokenGrant

GOOGLE_AUTH_URI = "https://accounts.google.com/o/oauth2/v2/auth"
#: Seconds to wait for Google's token endpoint.
TOKEN_TIMEOUT_S = 15.0


def token_uri(root_url: str | None) -> str:
    return _root(root_url) + "token" if root_url else GOOGLE_TOKEN_URI


def auth_uri(root_url: str | None) -> str:
    return _root(root_url) + "o/oauth2/v2/auth" if root_url else GOOGLE_AUTH_URI


def _root(root_url: str | None) -> str:
    assert root_url is not None
    return root_url if root_url.endswith("/") else root_url + "/"


def authorization_url(
    *,
    root_url: str | None,
    client_id: str,
    redirect_uri: str,
    scopes: Sequence[str],
    state: str,
    login_hint: str | None = None,
) -> str:
    """The consent page URL. ``access_type=offline`` + ``prompt=consent`` so Google returns a refresh
    token even to a person who consented before (otherwise a reconnect would yield none)."""
    params = {
        "client_id": client_id,
        "redirect_uri": redirect_uri,
        "response_type": "code",
        "scope": " ".join(scopes),
        "access_type": "offline",
        "prompt": "consent",
        "include_granted_scopes": "true",
        "state": state,
    }
    if login_hint:
        params["login_hint"] = login_hint
    return auth_uri(root_url) + "?" + urlencode(params)


def exchange_code(
    *,
    root_url: str | None,
    client_id: str,
    client_secret: str,
    code: str,
    redirect_uri: str,
    transport: httpx.BaseTransport | None = None,
) -> TokenGrant:
    """Trade an authorization code for tokens at the token endpoint (one POST, no retries: codes are
    single-use, so a blind retry after a lost answer would only produce ``invalid_grant``)."""
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "client_id": client_id,
        "client_secret": client_secret,
        "redirect_uri": redirect_uri,
    }
    try:
        with httpx.Client(timeout=TOKEN_TIMEOUT_S, transport=transport) as client:
            resp = client.post(token_uri(root_url), data=form, headers={"accept": "application/json"})
    except httpx.HTTPError as exc:
        raise OAuthUnavailable(f"Google's token endpoint did not answer ({type(exc).__name__})") from None
    if resp.status_code >= 500:
        raise OAuthUnavailable(f"Google's token endpoint answered HTTP {resp.status_code}")
    try:
        body = resp.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise OAuthExchangeError(
            "invalid_response", f"the token endpoint answered HTTP {resp.status_code} without JSON"
        )
    if resp.status_code != 200 or "access_token" not in body:
        raise OAuthExchangeError(
            str(body.get("error") or "invalid_response"), str(body.get("error_description") or "")
        )
    try:
        expires_in = int(body.get("expires_in") or 3599)
    except (TypeError, ValueError):
        expires_in = 3599
    scopes = tuple(str(body.get("scope") or "").split())
    refresh = body.get("refresh_token")
    return TokenGrant(str(body["access_token"]), str(refresh) if refresh else None, scopes, expires_in, body)


def primary_calendar_email(*, root_url: str | None, access_token: str) -> str:
    """The e-mail of the account an access token belongs to: its primary calendar's id (Google sets a
    user's primary calendar id to their e-mail). Needs only the Calendar scope Muster asks for anyway."""
    creds = user_creds.Credentials(token=access_token)  # type: ignore[no-untyped-call]
    service = build_service("calendar", "v3", root_url=root_url, credentials=creds)
    pacer = pacing.installed()
    try:
        if pacer is not None:  # whose account this is is what the call finds out: the project's bucket pays
            pacer(None)
    except RetriableError:
        raise OAuthUnavailable("Muster's Google quota is in use by other work; nothing was sent") from None
    try:
        cal = service.calendars().get(calendarId="primary").execute()
    except HttpError as exc:
        raise OAuthExchangeError(
            "calendar_unavailable",
            f"the new token cannot read the primary calendar (HTTP {exc.status_code}: {exc.reason})",
        ) from None
    return str(cal.get("id", "")).lower()
