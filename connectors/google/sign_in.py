"""Sign in with Google (OpenID Connect), as HTTP: discovery, the consent URL, the code exchange, ID token checks.

Where it sits: ``connectors.google``; implements :class:`connectors.ports.sign_in.GoogleSignIn` for
:mod:`engine.admin.google_sign_in` (which makes state, nonce and PKCE verifier, and decides who may sign in).
Nothing here touches the database.

As Google documents it (developers.google.com/identity/openid-connect/openid-connect):

* the endpoints come from the discovery document (``https://accounts.google.com/.well-known/openid-configuration``,
  or ``{root}.well-known/openid-configuration`` for the emulator), kept for an hour; its ``issuer`` must be
  Google's;
* the consent URL asks for ``openid email profile`` with ``state``, ``nonce``, PKCE ``S256`` and the
  ``hd`` hint (a hint only: the ``hd`` claim is what the engine checks);
* the code is exchanged once (no retry: codes are single-use) with the ``code_verifier``;
* the ID token is verified by google-auth, ``google.oauth2.id_token.verify_token``, against Google's
  x509 certificates (``https://www.googleapis.com/oauth2/v1/certs``, the URL ``verify_oauth2_token`` uses;
  ``{root}oauth2/v1/certs`` for the emulator): signature, ``aud`` = the client id, ``exp``/``iat``; then
  ``iss`` must be ``accounts.google.com`` or ``https://accounts.google.com``, as ``verify_oauth2_token``
  checks. Certificates are fetched through :class:`~connectors.google.transport.SingleShotHttp`.

Errors are classified once, here: unreachable or 5xx → :class:`SignInUnavailable`; a refusal or a token that
does not verify → :class:`SignInRefused`.
"""

from __future__ import annotations

import threading
import time
from typing import Any
from urllib.parse import urlencode

import google_auth_httplib2
import httpx
from google.auth import exceptions as google_exceptions
from google.oauth2 import id_token as google_id_token

from connectors.google.transport import SingleShotHttp
from connectors.ports.sign_in import GoogleIdentity, SignInRefused, SignInUnavailable

GOOGLE_DISCOVERY_URL = "https://accounts.google.com/.well-known/openid-configuration"
GOOGLE_CERTS_URL = "https://www.googleapis.com/oauth2/v1/certs"
GOOGLE_ISSUERS = ("accounts.google.com", "https://accounts.google.com")
SCOPES = ("openid", "email", "profile")
#: Seconds to wait for Google (discovery, token endpoint, certificates).
TIMEOUT_S = 15.0
#: The discovery document is kept this long per root URL (Google serves it with a one-hour max-age).
DISCOVERY_TTL_S = 3600.0
#: Leeway for ``iat``/``exp`` between Google's clock and ours.
CLOCK_SKEW_S = 30

_discovered: dict[str, tuple[float, dict[str, Any]]] = {}
_lock = threading.Lock()


def _root(root_url: str) -> str:
    return root_url if root_url.endswith("/") else root_url + "/"


def discovery_url(root_url: str | None) -> str:
    return _root(root_url) + ".well-known/openid-configuration" if root_url else GOOGLE_DISCOVERY_URL


def certs_url(root_url: str | None) -> str:
    return _root(root_url) + "oauth2/v1/certs" if root_url else GOOGLE_CERTS_URL


def discovery(root_url: str | None, *, transport: httpx.BaseTransport | None = None) -> dict[str, Any]:
    """Google's discovery document (cached for :data:`DISCOVERY_TTL_S`), checked to name Google's issuer."""
    url = discovery_url(root_url)
    with _lock:
        hit = _discovered.get(url)
    if hit is not None and time.monotonic() - hit[0] < DISCOVERY_TTL_S:
        return hit[1]
    try:
        with httpx.Client(timeout=TIMEOUT_S, transport=transport) as client:
            resp = client.get(url, headers={"accept": "application/json"})
    except httpx.HTTPError as exc:
        raise SignInUnavailable(f"Google's discovery document did not answer ({type(exc).__name__})") from None
    if resp.status_code >= 500:
        raise SignInUnavailable(f"Google's discovery document answered HTTP {resp.status_code}")
    try:
        doc = resp.json()
    except ValueError:
        doc = None
    if (
        resp.status_code != 200
        or not isinstance(doc, dict)
        or doc.get("issuer") not in GOOGLE_ISSUERS
        or not all(isinstance(doc.get(k), str) for k in ("authorization_endpoint", "token_endpoint"))
    ):
        raise SignInRefused("bad_discovery", f"{url} is not Google's OpenID Connect discovery document")
    with _lock:
        _discovered[url] = (time.monotonic(), doc)
    return doc


def authorization_url(
    *,
    root_url: str | None,
    client_id: str,
    redirect_uri: str,
    state: str,
    nonce: str,
    code_challenge: str,
    hosted_domain: str | None,
    login_hint: str | None = None,
) -> str:
    params = {
        "client_id": client_id,
        "redirect_uri": redirect_uri,
        "response_type": "code",
        "scope": " ".join(SCOPES),
        "state": state,
        "nonce": nonce,
        "code_challenge": code_challenge,
        "code_challenge_method": "S256",
        "prompt": "select_account",
    }
    if hosted_domain:
        params["hd"] = hosted_domain
    if login_hint:
        params["login_hint"] = login_hint
    return str(discovery(root_url)["authorization_endpoint"]) + "?" + urlencode(params)


def _exchange(
    token_endpoint: str, form: dict[str, str], transport: httpx.BaseTransport | None
) -> dict[str, Any]:
    try:
        with httpx.Client(timeout=TIMEOUT_S, transport=transport) as client:
            resp = client.post(token_endpoint, data=form, headers={"accept": "application/json"})
    except httpx.HTTPError as exc:
        raise SignInUnavailable(f"Google's token endpoint did not answer ({type(exc).__name__})") from None
    if resp.status_code >= 500:
        raise SignInUnavailable(f"Google's token endpoint answered HTTP {resp.status_code}")
    try:
        body = resp.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise SignInRefused("invalid_response", f"the token endpoint answered HTTP {resp.status_code} without JSON")
    if resp.status_code != 200:
        raise SignInRefused(str(body.get("error") or "invalid_response"), str(body.get("error_description") or ""))
    if not isinstance(body.get("id_token"), str):
        raise SignInRefused("no_id_token", "Google's answer has no ID token (was the openid scope granted?)")
    return body


def verify(id_token: str, *, root_url: str | None, client_id: str) -> dict[str, Any]:
    """google-auth's verification of ``id_token`` (signature, ``aud``, ``exp``) plus Google's issuer check."""
    request = google_auth_httplib2.Request(SingleShotHttp(TIMEOUT_S))
    try:
        claims = dict(
            google_id_token.verify_token(
                id_token,
                request,
                audience=client_id,
                certs_url=certs_url(root_url),
                clock_skew_in_seconds=CLOCK_SKEW_S,
            )
        )
    except (google_exceptions.TransportError, ConnectionError, TimeoutError) as exc:
        raise SignInUnavailable(f"Google's certificates could not be fetched ({exc})") from None
    except (ValueError, google_exceptions.GoogleAuthError) as exc:
        raise SignInRefused("invalid_id_token", str(exc)) from None
    if claims.get("iss") not in GOOGLE_ISSUERS:
        raise SignInRefused("invalid_id_token", f"the ID token's issuer {claims.get('iss')!r} is not Google")
    if not isinstance(claims.get("sub"), str) or not isinstance(claims.get("email"), str):
        raise SignInRefused("invalid_id_token", "the ID token names no account (sub and email are required)")
    return claims


def redeem(
    *,
    root_url: str | None,
    client_id: str,
    client_secret: str,
    code: str,
    code_verifier: str,
    redirect_uri: str,
    transport: httpx.BaseTransport | None = None,
) -> GoogleIdentity:
    token_endpoint = str(discovery(root_url, transport=transport)["token_endpoint"])
    body = _exchange(
        token_endpoint,
        {
            "grant_type": "authorization_code",
            "code": code,
            "code_verifier": code_verifier,
            "client_id": client_id,
            "client_secret": client_secret,
            "redirect_uri": redirect_uri,
        },
        transport,
    )
    claims = verify(str(body["id_token"]), root_url=root_url, client_id=client_id)
    hd = claims.get("hd")
    nonce = claims.get("nonce")
    name = claims.get("name")
    return GoogleIdentity(
        subject=str(claims["sub"]),
        email=str(claims["email"]).strip().lower(),
        email_verified=claims.get("email_verified") in (True, "true"),  # a string in older tokens
        hosted_domain=str(hd).lower() if isinstance(hd, str) and hd else None,
        nonce=str(nonce) if isinstance(nonce, str) else None,
        name=str(name) if isinstance(name, str) else None,
        claims=claims,
    )
