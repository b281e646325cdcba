"""Contract: Sign in with Google (OpenID Connect) in the emulator, checked with google-auth's own verifier.

The flow as Google documents it: the discovery document, the consent page with ``openid email profile``,
``nonce``, PKCE and ``hd``, the token endpoint's ``id_token`` signed RS256 with keys published at the certs
URLs, verified by ``google.oauth2.id_token.verify_token`` (audience, expiry, signature), and key rotation.
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
from typing import Any
from urllib.parse import parse_qs, urlsplit

import google_auth_httplib2
import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa
from google.auth import exceptions as google_exceptions
from google.oauth2 import id_token as google_id_token

from connectors.google.transport import SingleShotHttp
from tests.contract.conftest import ALICE, BOB, CAL, OAUTH_CLIENT_ID, OAUTH_SECRET, REDIRECT_URI, Ws

SIGN_IN_SCOPES = "openid email profile"
GOOGLE_ISSUERS = ("accounts.google.com", "https://accounts.google.com")


def _pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def _consent(ws: Ws, user: str, **extra: str) -> str:
    """Walk the consent page as a browser would (GET, then Allow as ``user``); returns the code."""
    params = {
        "client_id": OAUTH_CLIENT_ID,
        "redirect_uri": REDIRECT_URI,
        "scope": SIGN_IN_SCOPES,
        "state": "st-1",
        "response_type": "code",
        **extra,
    }
    page = httpx.get(ws.url + "o/oauth2/v2/auth", params=params)
    assert page.status_code == 200, page.text
    form = dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', page.text))
    form.update(user=user, decision="allow")
    answer = httpx.post(ws.url + "o/oauth2/v2/auth", data=form)
    assert answer.status_code == 303, answer.text
    query = parse_qs(urlsplit(answer.headers["location"]).query)
    assert query["state"] == ["st-1"]
    return query["code"][0]


def _exchange(ws: Ws, code: str, **extra: str) -> httpx.Response:
    return httpx.post(
        ws.token_uri,
        data={
            "grant_type": "authorization_code",
            "code": code,
            "client_id": OAUTH_CLIENT_ID,
            "client_secret": OAUTH_SECRET,
            "redirect_uri": REDIRECT_URI,
            **extra,
        },
    )


def _verify(ws: Ws, token: str, audience: str = OAUTH_CLIENT_ID, certs: str = "oauth2/v1/certs") -> Any:
    """google-auth's verifier with the certs URL pointed at the emulator, and Google's issuer check."""
    request = google_auth_httplib2.Request(SingleShotHttp(10))
    claims = google_id_token.verify_token(token, request, audience=audience, certs_url=ws.url + certs)
    assert claims["iss"] in GOOGLE_ISSUERS
    return claims


def _sign_in(ws: Ws, user: str = ALICE, nonce: str = "n-123") -> dict[str, Any]:
    verifier, challenge = _pkce()
    code = _consent(ws, user, nonce=nonce, code_challenge=challenge, code_challenge_method="S256")
    answer = _exchange(ws, code, code_verifier=verifier)
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


def test_discovery_document_points_at_the_emulator_with_googles_issuer(ws: Ws) -> None:
    doc = httpx.get(ws.url + ".well-known/openid-configuration").json()
    assert doc["issuer"] == "https://accounts.google.com"
    assert doc["authorization_endpoint"] == ws.url + "o/oauth2/v2/auth"
    assert doc["token_endpoint"] == ws.token_uri
    assert doc["jwks_uri"] == ws.url + "oauth2/v3/certs"
    assert set(doc["scopes_supported"]) == {"openid", "email", "profile"}
    assert doc["id_token_signing_alg_values_supported"] == ["RS256"]
    assert "S256" in doc["code_challenge_methods_supported"]
    assert httpx.get(doc["jwks_uri"]).status_code == 200


def test_consent_page_names_the_identity_scopes_and_lists_the_hd_domain_first(ws: Ws) -> None:
    ws.world.add_user("zed@other.test")
    ws.world.add_user("aaron@other.test")
    page = httpx.get(
        ws.url + "o/oauth2/v2/auth",
        params={
            "client_id": OAUTH_CLIENT_ID,
            "redirect_uri": REDIRECT_URI,
            "scope": SIGN_IN_SCOPES,
            "response_type": "code",
            "hd": "corp.test",
        },
    ).text
    assert "See your primary Google Account email address" in page
    assert "Associate you with your personal info on Google" in page
    offered = re.findall(r'name="user" value="([^"]+)"', page)
    assert offered[0] == ALICE  # corp.test first (hd is a hint) ...
    assert "aaron@other.test" in offered  # ... and the other accounts are still offered, as at Google
    assert offered.index("aaron@other.test") > offered.index(BOB)


def test_code_with_openid_returns_an_id_token_that_google_auth_verifies(ws: Ws) -> None:
    tokens = _sign_in(ws)
    claims = _verify(ws, tokens["id_token"])
    alice = ws.world.find_user(ALICE)
    assert alice is not None
    assert claims["aud"] == OAUTH_CLIENT_ID and claims["azp"] == OAUTH_CLIENT_ID
    assert claims["sub"] == alice.id
    assert claims["email"] == ALICE and claims["email_verified"] is True
    assert claims["hd"] == "corp.test"
    assert claims["nonce"] == "n-123"
    assert claims["name"] == "Alice A"
    assert claims["exp"] - claims["iat"] == 3600
    digest = hashlib.sha256(tokens["access_token"].encode()).digest()
    assert claims["at_hash"] == base64.urlsafe_b64encode(digest[:16]).rstrip(b"=").decode()
    assert set(tokens["scope"].split()) == {"openid", "email", "profile"}


def test_id_token_for_another_audience_is_refused_by_google_auth(ws: Ws) -> None:
    tokens = _sign_in(ws)
    with pytest.raises(ValueError, match="audience"):
        _verify(ws, tokens["id_token"], audience="someone-else.apps.googleusercontent.com")


def test_a_tampered_id_token_fails_the_signature_check(ws: Ws) -> None:
    head, body, sig = _sign_in(ws)["id_token"].split(".")
    claims = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)).replace(b"corp.test", b"evil.test")
    forged = ".".join([head, base64.urlsafe_b64encode(claims).rstrip(b"=").decode(), sig])
    with pytest.raises(ValueError, match="signature"):
        _verify(ws, forged)


def test_pkce_verifier_is_required_and_must_match(ws: Ws) -> None:
    verifier, challenge = _pkce()
    code = _consent(ws, ALICE, code_challenge=challenge, code_challenge_method="S256")
    missing = _exchange(ws, code)
    assert missing.status_code == 400
    assert missing.json() == {"error": "invalid_grant", "error_description": "Missing code verifier."}
    code = _consent(ws, ALICE, code_challenge=challenge, code_challenge_method="S256")
    wrong = _exchange(ws, code, code_verifier=secrets.token_urlsafe(48))
    assert wrong.json() == {"error": "invalid_grant", "error_description": "Invalid code verifier."}
    again = _exchange(ws, code, code_verifier=verifier)  # the code was spent by the wrong attempt
    assert again.json()["error"] == "invalid_grant"
    code = _consent(ws, ALICE, code_challenge=challenge, code_challenge_method="S256")
    assert "id_token" in _exchange(ws, code, code_verifier=verifier).json()


def test_without_openid_there_is_no_id_token(ws: Ws) -> None:
    code = _consent(ws, BOB, scope=CAL)
    body = _exchange(ws, code).json()
    assert "access_token" in body and "id_token" not in body


def test_consumer_account_has_no_hd_and_unverified_email_says_so(ws: Ws) -> None:
    ws.world.add_user("someone@gmail.com")
    ws.world.add_user("new@corp.test", emailVerified=False)
    consumer = _verify(ws, _sign_in(ws, "someone@gmail.com")["id_token"])
    assert "hd" not in consumer and consumer["email"] == "someone@gmail.com"
    unverified = _verify(ws, _sign_in(ws, "new@corp.test")["id_token"])
    assert unverified["email_verified"] is False and unverified["hd"] == "corp.test"


def test_jwks_and_pem_certs_publish_the_same_keys(ws: Ws) -> None:
    _sign_in(ws)
    jwks = httpx.get(ws.url + "oauth2/v3/certs").json()["keys"]
    pems = httpx.get(ws.url + "oauth2/v1/certs").json()
    assert {k["kid"] for k in jwks} == set(pems)
    for key in jwks:
        assert key["kty"] == "RSA" and key["alg"] == "RS256" and key["use"] == "sig"
        public = x509.load_pem_x509_certificate(pems[key["kid"]].encode()).public_key()
        assert isinstance(public, rsa.RSAPublicKey)
        n = int.from_bytes(base64.urlsafe_b64decode(key["n"] + "=" * (-len(key["n"]) % 4)), "big")
        assert public.public_numbers().n == n


def test_key_rotation_keeps_the_previous_key_published_for_a_while(ws: Ws) -> None:
    first = _sign_in(ws)["id_token"]
    rotated = httpx.post(ws.url + "_emulator/oidc/rotate-keys").json()
    assert len(rotated["published"]) == 2
    second = _sign_in(ws)["id_token"]
    assert _verify(ws, first)["email"] == ALICE  # signed with the previous key: still published
    assert _verify(ws, second)["email"] == ALICE
    httpx.post(ws.url + "_emulator/oidc/rotate-keys")
    with pytest.raises((ValueError, google_exceptions.GoogleAuthError), match="key id"):
        _verify(ws, first)  # two rotations later its key is gone
    assert _verify(ws, second)["email"] == ALICE


def test_refresh_with_openid_returns_a_new_id_token_and_userinfo_answers(ws: Ws) -> None:
    verifier, challenge = _pkce()
    code = _consent(ws, BOB, access_type="offline", code_challenge=challenge, code_challenge_method="S256")
    tokens = _exchange(ws, code, code_verifier=verifier).json()
    refreshed = httpx.post(
        ws.token_uri,
        data={
            "grant_type": "refresh_token",
            "refresh_token": tokens["refresh_token"],
            "client_id": OAUTH_CLIENT_ID,
            "client_secret": OAUTH_SECRET,
        },
    ).json()
    claims = _verify(ws, refreshed["id_token"])
    assert claims["email"] == BOB and "nonce" not in claims
    info = httpx.get(ws.url + "v1/userinfo", headers={"Authorization": f"Bearer {refreshed['access_token']}"})
    assert info.status_code == 200 and info.json()["email"] == BOB and info.json()["sub"] == claims["sub"]
    assert httpx.get(ws.url + "v1/userinfo", headers={"Authorization": "Bearer nope"}).status_code == 401
