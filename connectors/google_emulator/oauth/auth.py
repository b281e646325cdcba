"""OAuth for the emulator: the token endpoint, the consent page and the bearer check of every API call.

Where it sits: ``connectors.google_emulator``; Google-facing routes ``POST /token`` and
``GET|POST /o/oauth2/v2/auth``. Other modules call :func:`authenticate` (``directory/api.py`` too) with
the discovery method id (``"calendar.events.insert"``, ``"directory.users.list"``) to get a
:class:`Caller` or an :class:`ApiError` (401 ``authError`` / 403 ``insufficientPermissions``).

A scope that no bundled discovery document (nor sign-in) defines gets ``invalid_scope``, as at Google.

Choices where the reference is unsure (stricter side taken):
* JWT ``iat``/``exp`` are checked against the wall clock (the client signs with its wall clock even when
  the world runs on a manual clock); lifetime over 60 min (+5 min skew) or ``iat`` in the future is
  refused. ``aud`` must be Google's constant token URL, never the emulator's.
* ``kid`` must name the registered key of the service account.
* DWD checks user existence first (400 ``invalid_grant``), then the grant (401 ``unauthorized_client``).
* The consent page only accepts redirect URIs registered for the OAuth client.
* Sign in with Google (OpenID Connect, :mod:`~connectors.google_emulator.oauth.openid`): the consent page
  keeps ``nonce``, PKCE's ``code_challenge``/``code_challenge_method`` (``S256`` or ``plain``) and ``hd``
  (accounts of that domain are listed first: a hint, never a restriction, as at Google); a code issued
  with a challenge needs the matching ``code_verifier`` (``invalid_grant``: "Missing code verifier." /
  "Invalid code verifier."); a code or refresh token with the ``openid`` scope also returns an ``id_token``.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import secrets
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from connectors.discovery import discovery_doc
from connectors.google_emulator.errors import ApiError, token_error
from connectors.google_emulator.oauth.openid import SCOPE_TEXT, id_token_for
from connectors.google_emulator.state import GOOGLE_TOKEN_AUD, AccessToken, AuthCode, User, World

JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
UNAUTHORIZED_CLIENT = (
    "Client is unauthorized to retrieve access tokens using this method, or client not "
    "authorized for any of the scopes requested."
)
INVALID_JWT_TIME = (
    "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe. "
    "Check your 'iat' and 'exp' values and use a clock with skew to account for clock "
    "differences between systems."
)
SKEW_S = 300

_API_DOCS = (("calendar", "v3"), ("admin", "directory_v1"), ("admin", "datatransfer_v1"))
_method_scopes: dict[str, list[str]] = {}


def method_scopes(method_id: str) -> list[str]:
    """Scopes that allow a discovery method (any one is enough)."""
    if not _method_scopes:

        def walk(res: dict[str, Any]) -> None:
            for m in res.get("methods", {}).values():
                _method_scopes[str(m["id"])] = list(m.get("scopes", []))
            for sub in res.get("resources", {}).values():
                walk(sub)

        for api, ver in _API_DOCS:
            walk(discovery_doc(api, ver))
    try:
        return _method_scopes[method_id]
    except KeyError:
        raise KeyError(f"unknown discovery method id {method_id!r}") from None


@dataclass
class Caller:
    """Who is calling an API: the acting e-mail and what kind of identity it is."""

    token: AccessToken
    user: User | None

    @property
    def email(self) -> str:
        return self.token.email

    @property
    def kind(self) -> str:
        return self.token.kind

    @property
    def is_plain_sa(self) -> bool:
        """A service account acting as itself (no domain-wide delegation subject)."""
        return self.token.kind == "sa"


def _rpc_method_name(method_id: str) -> str:
    parts = method_id.split(".")
    api = parts[0]
    ver = {"calendar": "v3", "directory": "v1", "datatransfer": "v1"}.get(api, "v1")
    return ".".join([api, ver, *(p[:1].upper() + p[1:] for p in parts[1:])])


def authenticate(request: Request, world: World, method_id: str) -> Caller:
    """Check the bearer token and its scopes for ``method_id``; raise ``ApiError`` like Google."""
    header = request.headers.get("authorization", "")
    token = (
        header[7:].strip() if header[:7].lower() == "bearer " else request.query_params.get("oauth_token", "")
    )
    www = {"WWW-Authenticate": 'Bearer realm="https://accounts.google.com/", error="invalid_token"'}
    if not token:
        raise ApiError(
            401,
            "required",
            "Login Required.",
            location="Authorization",
            location_type="header",
            top_message="Request is missing required authentication credential. Expected OAuth 2 "
            "access token, login cookie or other valid authentication credential. See "
            "https://developers.google.com/identity/sign-in/web/devconsole-project.",
            headers={"WWW-Authenticate": 'Bearer realm="https://accounts.google.com/"'},
        )
    tok = world.identity_for_token(token)
    if tok is None:
        raise ApiError(
            401,
            "authError",
            "Invalid Credentials",
            location="Authorization",
            location_type="header",
            top_message="Request had invalid authentication credentials. Expected OAuth 2 access "
            "token, login cookie or other valid authentication credential. See "
            "https://developers.google.com/identity/sign-in/web/devconsole-project.",
            headers=www,
        )
    allowed = method_scopes(method_id)
    if allowed and not set(allowed) & set(tok.scopes):
        service = (
            "calendar-json.googleapis.com" if method_id.startswith("calendar.") else "admin.googleapis.com"
        )
        raise ApiError(
            403,
            "insufficientPermissions",
            "Insufficient Permission",
            top_message="Request had insufficient authentication scopes.",
            details=[
                {
                    "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                    "reason": "ACCESS_TOKEN_SCOPE_INSUFFICIENT",
                    "domain": "googleapis.com",
                    "metadata": {"service": service, "method": _rpc_method_name(method_id)},
                }
            ],
        )
    user = world.find_user(tok.email) if tok.kind != "sa" else None
    return Caller(tok, user)


# ---------------------------------------------------------------------------------------------- JWT
def _b64d(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def _verify_jwt(world: World, assertion: str) -> dict[str, Any] | Response:
    try:
        head_b64, body_b64, sig_b64 = assertion.split(".")
        header = json.loads(_b64d(head_b64))
        claims = json.loads(_b64d(body_b64))
        signature = _b64d(sig_b64)
    except (ValueError, json.JSONDecodeError):
        return token_error("invalid_grant", "Invalid JWT: could not be decoded.")
    if not isinstance(header, dict) or not isinstance(claims, dict):
        return token_error("invalid_grant", "Invalid JWT: could not be decoded.")
    if header.get("alg") != "RS256":
        return token_error("invalid_grant", "Invalid JWT Signature.")
    iss = str(claims.get("iss", "")).lower()
    with world.lock:
        sa = world.service_accounts.get(iss)
    if sa is None:
        return token_error("invalid_grant", "Invalid grant: account not found")
    if header.get("kid") not in (None, sa.private_key_id):
        return token_error("invalid_grant", "Invalid JWT Signature.")
    key = serialization.load_pem_public_key(sa.public_key_pem.encode())
    if not isinstance(key, rsa.RSAPublicKey):
        return token_error("invalid_grant", "Invalid JWT Signature.")
    try:
        key.verify(signature, f"{head_b64}.{body_b64}".encode(), padding.PKCS1v15(), hashes.SHA256())
    except InvalidSignature:
        return token_error("invalid_grant", "Invalid JWT Signature.")
    if claims.get("aud") != GOOGLE_TOKEN_AUD:
        return token_error(
            "invalid_grant",
            f"Invalid JWT: Failed audience check. The expected audience is {GOOGLE_TOKEN_AUD}.",
        )
    try:
        iat, exp = int(claims["iat"]), int(claims["exp"])
    except (KeyError, TypeError, ValueError):
        return token_error("invalid_grant", INVALID_JWT_TIME)
    now = int(time.time())
    if iat > now + SKEW_S or exp <= now - SKEW_S or exp - iat > 3600 + SKEW_S or exp <= iat:
        return token_error("invalid_grant", INVALID_JWT_TIME)
    claims["_sa_client_id"] = sa.client_id
    return claims


def _scopes_of(raw: str | None) -> list[str]:
    return [s for s in (raw or "").split() if s]


#: Scopes Google knows beyond the emulated APIs' own (sign-in and the umbrella scope).
_IDENTITY_SCOPES = frozenset({
    "openid", "email", "profile", "https://www.googleapis.com/auth/userinfo.email",
    "https://www.googleapis.com/auth/userinfo.profile", "https://www.googleapis.com/auth/cloud-platform",
})
_known_scopes: set[str] = set()


def known_scopes() -> frozenset[str]:
    """Every scope a token may be asked for: the bundled discovery documents' ``auth.oauth2.scopes``
    plus the identity scopes. Anything else is an unknown scope, ``invalid_scope`` at Google."""
    if not _known_scopes:
        for api, ver in _API_DOCS:
            _known_scopes.update(discovery_doc(api, ver).get("auth", {}).get("oauth2", {}).get("scopes", {}))
        _known_scopes.update(_IDENTITY_SCOPES)
    return frozenset(_known_scopes)


def _valid_scope(scope: str) -> bool:
    return scope in known_scopes()


def _token_response(
    world: World,
    tok: AccessToken,
    *,
    refresh_token: str | None = None,
    include_scope: bool = False,
    id_token: str | None = None,
) -> JSONResponse:
    body: dict[str, Any] = {
        "access_token": tok.token,
        "expires_in": world.options.token_ttl_s,
        "token_type": "Bearer",
    }
    if include_scope:
        body["scope"] = " ".join(tok.scopes)
    if refresh_token:
        body["refresh_token"] = refresh_token
    if id_token:
        body["id_token"] = id_token
    return JSONResponse(body, headers={"Cache-Control": "no-cache, no-store, max-age=0, must-revalidate"})


def _jwt_grant(world: World, form: dict[str, str]) -> Response:
    verified = _verify_jwt(world, form.get("assertion", ""))
    if isinstance(verified, Response):
        return verified
    claims = verified
    scopes = _scopes_of(claims.get("scope"))
    if not scopes or not all(_valid_scope(s) for s in scopes):
        return token_error("invalid_scope", "Invalid OAuth scope or ID token audience provided.")
    sa_email = str(claims["iss"]).lower()
    client_id = str(claims["_sa_client_id"])
    sub = claims.get("sub")
    if not sub:
        tok = world.issue_access_token(
            email=sa_email, sub=client_id, scopes=scopes, kind="sa", client_id=client_id, sa_email=sa_email
        )
        world.ensure_primary_calendar(sa_email, conference_types=[])
        return _token_response(world, tok)
    sub = str(sub).lower()
    if "@" not in sub:
        return token_error("invalid_grant", "Not a valid email.")
    user = world.find_user(sub)
    if user is None:
        return token_error("invalid_grant", "Invalid email or User ID")
    if user.deleted:
        return token_error("invalid_grant", "The account has been deleted")
    grant = world.grant_for(client_id, user.domain)
    if grant is None or not set(scopes) <= set(grant.scopes):
        return token_error("unauthorized_client", UNAUTHORIZED_CLIENT, status=401)
    tok = world.issue_access_token(
        email=user.email, sub=user.id, scopes=scopes, kind="sa_dwd", client_id=client_id, sa_email=sa_email
    )
    return _token_response(world, tok)


def _check_client(world: World, form: dict[str, str]) -> Response | None:
    client = world.oauth_clients.get(form.get("client_id", ""))
    if client is None:
        return token_error("invalid_client", "The OAuth client was not found.", status=401)
    if not secrets.compare_digest(client.client_secret, form.get("client_secret", "")):
        return token_error("invalid_client", "Unauthorized", status=401)
    return None


def _refresh_grant(world: World, form: dict[str, str]) -> Response:
    bad = _check_client(world, form)
    if bad is not None:
        return bad
    with world.lock:
        rt = world.refresh_tokens.get(form.get("refresh_token", ""))
        expired = rt is not None and rt.expires_at is not None and rt.expires_at <= world.now()
        user = world.find_user(rt.user) if rt is not None else None
        if (
            rt is None
            or rt.revoked
            or expired
            or rt.client_id != form.get("client_id")
            or user is None
            or user.deleted
        ):
            return token_error("invalid_grant", "Token has been expired or revoked.")
        asked = _scopes_of(form.get("scope"))
        if asked and not set(asked) <= set(rt.scopes):
            return token_error("invalid_scope", "Invalid OAuth scope or ID token audience provided.")
        tok = world.issue_access_token(
            email=rt.user, sub=user.id, scopes=asked or rt.scopes, kind="user", client_id=rt.client_id
        )
        id_token = (
            id_token_for(world, user=user, client_id=rt.client_id, scopes=tok.scopes, access_token=tok.token,
                         nonce=None)
            if "openid" in tok.scopes
            else None
        )
    return _token_response(world, tok, include_scope=True, id_token=id_token)


def _pkce_matches(challenge: str, method: str, verifier: str) -> bool:
    """RFC 7636: ``S256`` compares base64url(sha256(verifier)); ``plain`` the verifier itself."""
    if method == "S256":
        computed = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    else:
        computed = verifier
    return secrets.compare_digest(computed, challenge)


def _code_grant(world: World, form: dict[str, str]) -> Response:
    bad = _check_client(world, form)
    if bad is not None:
        return bad
    with world.lock:
        code = world.auth_codes.get(form.get("code", ""))
        if (
            code is None
            or code.used
            or code.expires_at <= world.now()
            or code.client_id != form.get("client_id")
        ):
            return token_error("invalid_grant", "Malformed auth code.")
        if code.redirect_uri != form.get("redirect_uri", ""):
            return token_error("redirect_uri_mismatch", "Bad Request")
        code.used = True  # spent even when the verifier below is wrong: a stolen code is tried once
        if code.code_challenge is not None:
            verifier = form.get("code_verifier", "")
            if not verifier:
                return token_error("invalid_grant", "Missing code verifier.")
            if not _pkce_matches(code.code_challenge, code.code_challenge_method, verifier):
                return token_error("invalid_grant", "Invalid code verifier.")
        user = world.find_user(code.user)
        if user is None or user.deleted:
            return token_error("invalid_grant", "Token has been expired or revoked.")
        refresh = (
            world.issue_refresh_token(code.user, code.client_id, code.scopes).token if code.offline else None
        )
        tok = world.issue_access_token(
            email=code.user, sub=user.id, scopes=code.scopes, kind="user", client_id=code.client_id
        )
        id_token = (
            id_token_for(world, user=user, client_id=code.client_id, scopes=code.scopes, access_token=tok.token,
                         nonce=code.nonce)
            if "openid" in code.scopes
            else None
        )
    return _token_response(world, tok, refresh_token=refresh, include_scope=True, id_token=id_token)


def token_endpoint(world: World) -> Any:
    async def endpoint(request: Request) -> Response:
        form_data = await request.form()
        form = {k: str(v) for k, v in form_data.items()}
        grant = form.get("grant_type", "")
        if grant == JWT_BEARER:
            return _jwt_grant(world, form)
        if grant == "refresh_token":
            return _refresh_grant(world, form)
        if grant == "authorization_code":
            return _code_grant(world, form)
        return token_error("unsupported_grant_type", f"Invalid grant_type: {grant}")

    return endpoint


# ---------------------------------------------------------------------------------------------- consent
_PAGE = """<!doctype html><html><head><meta charset="utf-8">
<title>Sign in - Google Accounts (emulator)</title>
</head><body><h1>Choose an account</h1><p>to continue to <b>{client}</b></p>
<p>The application asks for: {scopes}</p>{described}
<form method="post" action="/o/oauth2/v2/auth">{hidden}
<fieldset><legend>Sign in as</legend>{choices}</fieldset>
<button type="submit" name="decision" value="allow">Allow</button>
<button type="submit" name="decision" value="deny">Cancel</button></form></body></html>"""


def _consent_error(message: str) -> HTMLResponse:
    return HTMLResponse(f"<!doctype html><h1>Error 400: {html.escape(message)}</h1>", status_code=400)


def consent_page(world: World) -> Any:
    keep = (
        "client_id", "redirect_uri", "scope", "state", "access_type", "prompt", "response_type", "nonce",
        "code_challenge", "code_challenge_method", "hd", "include_granted_scopes",
    )

    async def endpoint(request: Request) -> Response:
        params: dict[str, str]
        if request.method == "POST":
            params = {k: str(v) for k, v in (await request.form()).items()}
        else:
            params = dict(request.query_params)
        client = world.oauth_clients.get(params.get("client_id", ""))
        if client is None:
            return _consent_error("invalid_client")
        redirect_uri = params.get("redirect_uri", "")
        if redirect_uri not in client.redirect_uris:
            return _consent_error("redirect_uri_mismatch")
        scopes = _scopes_of(params.get("scope"))
        if not scopes or not all(_valid_scope(s) for s in scopes):
            return _consent_error("invalid_scope")
        if params.get("response_type", "code") != "code":
            return _consent_error("unsupported_response_type")
        challenge = params.get("code_challenge") or None
        method = params.get("code_challenge_method") or "plain"
        if method not in ("plain", "S256") or (challenge is not None and not 43 <= len(challenge) <= 128):
            return _consent_error("invalid_request: code_challenge")
        sep = "&" if "?" in redirect_uri else "?"
        state = {"state": params["state"]} if "state" in params else {}
        if request.method == "POST":
            if params.get("decision") != "allow":
                return RedirectResponse(
                    redirect_uri + sep + urlencode({"error": "access_denied", **state}), 303
                )
            user = world.find_user(params.get("user", ""))
            if user is None or user.deleted or user.suspended:
                return _consent_error("that account cannot sign in")
            with world.lock:
                code = AuthCode(
                    "4/emu-" + secrets.token_urlsafe(24),
                    user.email,
                    client.client_id,
                    redirect_uri,
                    scopes,
                    params.get("access_type") == "offline",
                    world.now() + timedelta(minutes=10),
                    nonce=params.get("nonce") or None,
                    code_challenge=challenge,
                    code_challenge_method=method,
                )
                world.auth_codes[code.code] = code
            query = {"code": code.code, **state, "scope": " ".join(scopes)}
            return RedirectResponse(redirect_uri + sep + urlencode(query), 303)
        hint = params.get("login_hint", "").lower()
        with world.lock:
            users = [u for u in world.users.values() if not u.deleted and not u.suspended]
        if hint:
            users = [u for u in users if u.email == hint]
            if not users:
                return _consent_error(f"no account {hint}")
        hd = params.get("hd", "").lower()  # a hint: that domain's accounts first, the others still offered
        choices = "".join(
            f'<label><input type="radio" name="user" value="{html.escape(u.email)}"'
            f'{" checked" if i == 0 else ""}>'
            f"{html.escape(u.email)}</label><br>"
            for i, u in enumerate(sorted(users, key=lambda u: (bool(hd) and u.domain != hd, u.email)))
        )
        described = "".join(f"<li>{html.escape(SCOPE_TEXT[s])}</li>" for s in scopes if s in SCOPE_TEXT)
        hidden = "".join(
            f'<input type="hidden" name="{k}" value="{html.escape(params[k])}">' for k in keep if k in params
        )
        return HTMLResponse(
            _PAGE.format(
                client=html.escape(client.client_id),
                hidden=hidden,
                choices=choices,
                scopes=html.escape(" ".join(scopes)),
                described=f'<ul class="scopes">{described}</ul>' if described else "",
            )
        )

    return endpoint


def routes(world: World) -> list[BaseRoute]:
    return [
        Route("/token", token_endpoint(world), methods=["POST"]),
        Route("/o/oauth2/v2/auth", consent_page(world), methods=["GET", "POST"]),
    ]
