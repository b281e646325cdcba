"""Sign in with Google (OpenID Connect) in the emulator: the discovery document, the signing keys, ID tokens.

Where it sits: ``connectors.google_emulator.oauth``, beside :mod:`~connectors.google_emulator.oauth.auth`,
whose token endpoint calls :func:`id_token_for` when an authorization code (or a refresh token) carries the
``openid`` scope. Google-facing routes, as Google documents them
(developers.google.com/identity/openid-connect/reference), all under the emulator's root URL:

* ``GET /.well-known/openid-configuration`` - the discovery document. ``issuer`` is Google's own
  (``https://accounts.google.com``: the emulator stands in for Google, as the JWT ``aud`` check does);
  the endpoints point at the emulator.
* ``GET /oauth2/v3/certs`` - the signing keys as a JWK set (``jwks_uri``), and ``GET /oauth2/v1/certs``
  - the same keys as ``{kid: x509 PEM}``, the format google-auth's ``verify_oauth2_token`` reads.
* ``GET|POST /v1/userinfo`` (and ``/oauth2/v3/userinfo``) - the claims of the bearer token's user.
* Control route ``POST /_emulator/oidc/rotate-keys`` - Google rotates its keys: a new key signs from now
  on, the previous one stays published (two at most), so tokens signed before still verify.

ID tokens are RS256 JWTs with ``iss``, ``azp``, ``aud`` (the OAuth client id), ``sub`` (the user's id),
``iat``/``exp`` (wall clock, one hour, like the JWT-bearer check in ``auth.py``), ``at_hash``, ``nonce``
when the consent request sent one, ``hd`` (the user's Workspace domain; none for consumer domains such
as gmail.com), ``email``/``email_verified`` with the ``email`` scope and ``name``/``given_name``/
``family_name``/``picture`` with ``profile``. ``email_verified`` is true unless a user was seeded with
``"emailVerified": false`` (an emulator-only knob to test the check).
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from connectors.google_emulator.state import User, World

ISSUER = "https://accounts.google.com"
ID_TOKEN_TTL_S = 3600
#: Domains of consumer Google accounts: their ID tokens carry no ``hd``.
CONSUMER_DOMAINS = frozenset({"gmail.com", "googlemail.com"})
IDENTITY_SCOPES = ("openid", "email", "profile")
#: The consent page's wording of the identity scopes (Google's own sentences).
SCOPE_TEXT = {
    "openid": "Associate you with your personal info on Google",
    "email": "See your primary Google Account email address",
    "profile": "See your personal info, including any personal info you've made publicly available",
    "https://www.googleapis.com/auth/userinfo.email": "See your primary Google Account email address",
    "https://www.googleapis.com/auth/userinfo.profile": "See your personal info, including any personal "
    "info you've made publicly available",
}
_EMAIL_SCOPES = frozenset({"email", "https://www.googleapis.com/auth/userinfo.email"})
_PROFILE_SCOPES = frozenset({"profile", "https://www.googleapis.com/auth/userinfo.profile"})
_KEYS = "oidc_signing_keys"


@dataclass(frozen=True)
class SigningKey:
    kid: str
    private_key: rsa.RSAPrivateKey
    cert_pem: str

    def jwk(self) -> dict[str, str]:
        numbers = self.private_key.public_key().public_numbers()
        return {
            "kty": "RSA",
            "alg": "RS256",
            "use": "sig",
            "kid": self.kid,
            "n": _b64u(numbers.n.to_bytes((numbers.n.bit_length() + 7) // 8, "big")),
            "e": _b64u(numbers.e.to_bytes((numbers.e.bit_length() + 7) // 8, "big")),
        }


def _b64u(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _new_key() -> SigningKey:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "accounts.google.com")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=14))
        .sign(key, hashes.SHA256())
    )
    return SigningKey(secrets.token_hex(20), key, cert.public_bytes(serialization.Encoding.PEM).decode())


def signing_keys(world: World) -> list[SigningKey]:
    """The published keys, newest (the one that signs) first; made on first use."""
    with world.lock:
        keys: list[SigningKey] = world.extra.setdefault(_KEYS, [])
        if not keys:
            keys.append(_new_key())
        return list(keys)


def rotate_signing_keys(world: World) -> SigningKey:
    """A new key signs from now on; the previous one stays published (two keys at most, as at Google)."""
    key = _new_key()
    with world.lock:
        keys: list[SigningKey] = world.extra.setdefault(_KEYS, [])
        keys.insert(0, key)
        del keys[2:]
    return key


def hosted_domain(user: User) -> str | None:
    """The ``hd`` claim: the user's Workspace domain, or None for a consumer account."""
    return None if user.domain in CONSUMER_DOMAINS else user.domain


def user_claims(user: User, scopes: list[str]) -> dict[str, Any]:
    """What the identity scopes reveal about ``user`` (shared by the ID token and userinfo)."""
    claims: dict[str, Any] = {"sub": user.id}
    hd = hosted_domain(user)
    if hd:
        claims["hd"] = hd
    if _EMAIL_SCOPES & set(scopes):
        claims["email"] = user.email
        claims["email_verified"] = bool(user.extra.get("emailVerified", True))
    if _PROFILE_SCOPES & set(scopes):
        full = user.name.get("fullName") or user.email.split("@", 1)[0]
        claims["name"] = full
        if user.name.get("givenName"):
            claims["given_name"] = user.name["givenName"]
        if user.name.get("familyName"):
            claims["family_name"] = user.name["familyName"]
        claims["picture"] = f"https://lh3.googleusercontent.com/a/emu-{user.id}=s96-c"
    return claims


def at_hash(access_token: str) -> str:
    """OpenID Connect ``at_hash``: the left half of the access token's SHA-256, base64url."""
    digest = hashlib.sha256(access_token.encode()).digest()
    return _b64u(digest[: len(digest) // 2])


def sign_jwt(key: SigningKey, claims: dict[str, Any]) -> str:
    header = {"alg": "RS256", "kid": key.kid, "typ": "JWT"}
    signing_input = (
        _b64u(json.dumps(header, separators=(",", ":")).encode())
        + "."
        + _b64u(json.dumps(claims, separators=(",", ":")).encode())
    )
    signature = key.private_key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
    return signing_input + "." + _b64u(signature)


def id_token_for(
    world: World, *, user: User, client_id: str, scopes: list[str], access_token: str, nonce: str | None
) -> str:
    """An ID token for ``user`` as Google's token endpoint returns it to ``client_id``."""
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": ISSUER,
        "azp": client_id,
        "aud": client_id,
        **user_claims(user, scopes),
        "at_hash": at_hash(access_token),
        "iat": now,
        "exp": now + ID_TOKEN_TTL_S,
    }
    if nonce:
        claims["nonce"] = nonce
    return sign_jwt(signing_keys(world)[0], claims)


def discovery_document(root: str) -> dict[str, Any]:
    """Google's discovery document with the emulator's endpoints (``root`` ends with ``/``)."""
    return {
        "issuer": ISSUER,
        "authorization_endpoint": root + "o/oauth2/v2/auth",
        "token_endpoint": root + "token",
        "userinfo_endpoint": root + "v1/userinfo",
        "revocation_endpoint": root + "revoke",
        "jwks_uri": root + "oauth2/v3/certs",
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "scopes_supported": list(IDENTITY_SCOPES),
        "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic"],
        "claims_supported": [
            "aud", "email", "email_verified", "exp", "family_name", "given_name", "iat", "iss", "name",
            "picture", "sub",
        ],
        "code_challenge_methods_supported": ["plain", "S256"],
        "grant_types_supported": [
            "authorization_code", "refresh_token", "urn:ietf:params:oauth:grant-type:jwt-bearer",
        ],
    }


def _root_of(request: Request) -> str:
    root = str(request.base_url)
    return root if root.endswith("/") else root + "/"


def routes(world: World) -> list[BaseRoute]:
    async def discovery(request: Request) -> Response:
        return JSONResponse(discovery_document(_root_of(request)), headers={"Cache-Control": "public, max-age=3600"})

    async def jwks(request: Request) -> Response:
        return JSONResponse({"keys": [k.jwk() for k in signing_keys(world)]})

    async def pem_certs(request: Request) -> Response:
        return JSONResponse({k.kid: k.cert_pem for k in signing_keys(world)})

    async def userinfo(request: Request) -> Response:
        header = request.headers.get("authorization", "")
        token = header[7:].strip() if header[:7].lower() == "bearer " else ""
        tok = world.identity_for_token(token) if token else None
        if tok is None or tok.kind != "user" or not ({"openid"} | _EMAIL_SCOPES) & set(tok.scopes):
            return JSONResponse(
                {"error": "invalid_request", "error_description": "Invalid Credentials"},
                status_code=401,
                headers={"WWW-Authenticate": 'Bearer realm="https://accounts.google.com/", error="invalid_token"'},
            )
        user = world.find_user(tok.email)
        if user is None or user.deleted:
            return JSONResponse({"error": "invalid_request", "error_description": "Invalid Credentials"}, 401)
        return JSONResponse(user_claims(user, tok.scopes))

    return [
        Route("/.well-known/openid-configuration", discovery, methods=["GET"]),
        Route("/oauth2/v3/certs", jwks, methods=["GET"]),
        Route("/oauth2/v1/certs", pem_certs, methods=["GET"]),
        Route("/v1/userinfo", userinfo, methods=["GET", "POST"]),
        Route("/oauth2/v3/userinfo", userinfo, methods=["GET", "POST"]),
    ]


def control_routes(world: World) -> list[BaseRoute]:
    async def rotate(request: Request) -> Response:
        key = rotate_signing_keys(world)
        return JSONResponse({"kid": key.kid, "published": [k.kid for k in signing_keys(world)]})

    return [Route("/_emulator/oidc/rotate-keys", rotate, methods=["POST"])]
