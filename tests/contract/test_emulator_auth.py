"""Contract: the emulator's OAuth token endpoint, consent page and per-call token/scope checks."""

from __future__ import annotations

import base64
import json
import re
import time
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding
from google.auth.exceptions import RefreshError
from googleapiclient.errors import HttpError

from connectors.google.clients import user_credentials
from tests.contract.conftest import (
    ALICE,
    BOB,
    CAL,
    CAL_EVENTS,
    CAROL,
    DAVE,
    OAUTH_CLIENT_ID,
    OAUTH_SECRET,
    REDIRECT_URI,
    SA_EMAIL,
    SA_KEY_ID,
    Ws,
)


def _reason(err: HttpError) -> str:
    return str(json.loads(err.content)["error"]["errors"][0]["reason"])


def test_dwd_token_lets_the_service_account_act_as_a_user(ws: Ws) -> None:
    cal = ws.as_user(ALICE)
    got = cal.calendars().get(calendarId="primary").execute()
    assert got["id"] == ALICE
    tok = next(iter(ws.world.access_tokens.values()))
    assert (tok.kind, tok.email, tok.sa_email) == ("sa_dwd", ALICE, SA_EMAIL)


def test_service_account_without_subject_gets_its_own_calendar(ws: Ws) -> None:
    got = ws.as_sa().calendars().get(calendarId="primary").execute()
    assert got["id"] == SA_EMAIL
    assert got["conferenceProperties"]["allowedConferenceSolutionTypes"] == []


def test_scope_outside_the_delegation_grant_is_unauthorized_client(ws: Ws) -> None:
    cal = ws.as_user(ALICE, scopes=[CAL_EVENTS])
    with pytest.raises(RefreshError) as info:
        cal.calendars().get(calendarId="primary").execute()
    assert "unauthorized_client" in str(info.value)
    assert "not authorized for any of the scopes requested" in str(info.value)


def test_user_of_a_domain_without_grant_is_unauthorized_client(ws: Ws) -> None:
    ws.world.add_user("zed@other.test")
    with pytest.raises(RefreshError, match="unauthorized_client"):
        ws.as_user("zed@other.test").calendars().get(calendarId="primary").execute()


@pytest.mark.parametrize(
    ("subject", "message"),
    [
        ("nobody@corp.test", "Invalid email or User ID"),
        (DAVE, "The account has been deleted"),
    ],
)
def test_bad_subject_is_invalid_grant(ws: Ws, subject: str, message: str) -> None:
    with pytest.raises(RefreshError) as info:
        ws.as_user(subject).calendars().get(calendarId="primary").execute()
    assert f"invalid_grant: {message}" in str(info.value)


def test_suspended_subject_gets_a_token_but_calendar_says_not_a_calendar_user(ws: Ws) -> None:
    with pytest.raises(HttpError) as info:
        ws.as_user(CAROL).events().list(calendarId="primary").execute()
    assert info.value.resp.status == 403
    assert _reason(info.value) == "notACalendarUser"
    assert info.value.reason == "The user must be signed up for Google Calendar."


def _jwt(ws: Ws, claims: dict[str, object]) -> str:
    def b64(raw: bytes) -> str:
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    head = b64(json.dumps({"alg": "RS256", "typ": "JWT", "kid": SA_KEY_ID}).encode())
    body = b64(json.dumps(claims).encode())
    key = serialization.load_pem_private_key(ws.key.private_pem.encode(), password=None)
    sig = key.sign(f"{head}.{body}".encode(), padding.PKCS1v15(), hashes.SHA256())  # type: ignore[union-attr,call-arg]
    return f"{head}.{body}.{b64(sig)}"


def test_jwt_audience_must_be_googles_token_url_not_the_emulator(ws: Ws) -> None:
    now = int(time.time())
    base = {"iss": SA_EMAIL, "scope": CAL, "iat": now, "exp": now + 3600}
    grant = "urn:ietf:params:oauth:grant-type:jwt-bearer"
    bad = httpx.post(
        ws.token_uri, data={"grant_type": grant, "assertion": _jwt(ws, {**base, "aud": ws.token_uri})}
    )
    assert bad.status_code == 400 and bad.json()["error"] == "invalid_grant"
    good = httpx.post(
        ws.token_uri,
        data={
            "grant_type": grant,
            "assertion": _jwt(ws, {**base, "aud": "https://oauth2.googleapis.com/token"}),
        },
    )
    assert good.status_code == 200 and good.json()["expires_in"] == 3599
    too_long = httpx.post(
        ws.token_uri,
        data={
            "grant_type": grant,
            "assertion": _jwt(ws, {**base, "aud": "https://oauth2.googleapis.com/token", "exp": now + 7200}),
        },
    )
    assert (
        too_long.json()["error"] == "invalid_grant" and "short-lived" in too_long.json()["error_description"]
    )
    tampered = _jwt(ws, {**base, "aud": "https://oauth2.googleapis.com/token"})[:-4] + "AAAA"
    sig = httpx.post(ws.token_uri, data={"grant_type": grant, "assertion": tampered})
    assert sig.json() == {"error": "invalid_grant", "error_description": "Invalid JWT Signature."}


def test_oauth_user_refresh_token_and_revocation(ws: Ws) -> None:
    cal = ws.as_oauth_user(BOB)
    assert cal.calendars().get(calendarId="primary").execute()["id"] == BOB
    ws.world.revoke_tokens_for(BOB)
    with pytest.raises(RefreshError) as info:
        cal.calendars().get(calendarId="primary").execute()
    assert "invalid_grant: Token has been expired or revoked." in str(info.value)


def test_wrong_client_secret_is_invalid_client(ws: Ws) -> None:
    rt = ws.world.issue_refresh_token(BOB, OAUTH_CLIENT_ID, [CAL])
    creds = user_credentials(rt.token, OAUTH_CLIENT_ID, "wrong", [CAL], ws.token_uri)
    with pytest.raises(RefreshError, match="invalid_client"):
        ws.calendar(creds).calendars().get(calendarId="primary").execute()


def test_consent_page_issues_a_code_that_exchanges_for_tokens(ws: Ws) -> None:
    params = {
        "client_id": OAUTH_CLIENT_ID,
        "redirect_uri": REDIRECT_URI,
        "scope": CAL,
        "state": "s1",
        "access_type": "offline",
        "prompt": "consent",
        "response_type": "code",
        "login_hint": BOB,
    }
    page = httpx.get(ws.url + "o/oauth2/v2/auth", params=params)
    assert page.status_code == 200 and BOB in page.text and ALICE not in page.text
    form = dict(re.findall(r'name="(\w+)" value="([^"]*)"', page.text))
    form["decision"] = "allow"
    assert form["user"] == BOB
    answer = httpx.post(ws.url + "o/oauth2/v2/auth", data=form)
    assert answer.status_code == 303
    location = urlsplit(answer.headers["location"])
    query = parse_qs(location.query)
    assert f"{location.scheme}://{location.netloc}{location.path}" == REDIRECT_URI
    assert query["state"] == ["s1"]
    tokens = httpx.post(
        ws.token_uri,
        data={
            "grant_type": "authorization_code",
            "code": query["code"][0],
            "client_id": OAUTH_CLIENT_ID,
            "client_secret": OAUTH_SECRET,
            "redirect_uri": REDIRECT_URI,
        },
    ).json()
    assert tokens["expires_in"] == 3599 and tokens["refresh_token"]
    again = httpx.post(
        ws.token_uri,
        data={
            "grant_type": "authorization_code",
            "code": query["code"][0],
            "client_id": OAUTH_CLIENT_ID,
            "client_secret": OAUTH_SECRET,
            "redirect_uri": REDIRECT_URI,
        },
    )
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"
    cal = ws.calendar(
        user_credentials(tokens["refresh_token"], OAUTH_CLIENT_ID, OAUTH_SECRET, [CAL], ws.token_uri)
    )
    assert cal.calendars().get(calendarId="primary").execute()["id"] == BOB


def test_consent_page_refuses_unregistered_redirect_and_reports_denial(ws: Ws) -> None:
    bad = httpx.get(
        ws.url + "o/oauth2/v2/auth",
        params={"client_id": OAUTH_CLIENT_ID, "scope": CAL, "redirect_uri": "http://evil.test/cb"},
    )
    assert bad.status_code == 400 and "redirect_uri_mismatch" in bad.text
    denied = httpx.post(
        ws.url + "o/oauth2/v2/auth",
        data={
            "client_id": OAUTH_CLIENT_ID,
            "redirect_uri": REDIRECT_URI,
            "scope": CAL,
            "state": "x",
            "decision": "deny",
        },
    )
    assert denied.status_code == 303 and "error=access_denied" in denied.headers["location"]


def test_missing_scope_is_403_insufficient_permissions_with_details(ws: Ws) -> None:
    ws.world.add_delegation_grant("104857600000000000042", "corp.test", [CAL, CAL_EVENTS])
    cal = ws.as_user(ALICE, scopes=[CAL_EVENTS])
    with pytest.raises(HttpError) as info:
        cal.calendarList().list().execute()
    err = json.loads(info.value.content)["error"]
    assert info.value.resp.status == 403
    assert err["errors"][0]["reason"] == "insufficientPermissions"
    assert err["status"] == "PERMISSION_DENIED"
    assert info.value.error_details[0]["reason"] == "ACCESS_TOKEN_SCOPE_INSUFFICIENT"
    assert cal.events().list(calendarId="primary").execute()["kind"] == "calendar#events"


def test_bad_bearer_is_401_auth_error_with_www_authenticate(ws: Ws) -> None:
    r = httpx.get(ws.url + "calendar/v3/calendars/primary/events", headers={"Authorization": "Bearer nope"})
    assert r.status_code == 401
    assert r.json()["error"]["errors"][0]["reason"] == "authError"
    assert "invalid_token" in r.headers["www-authenticate"]


def test_expired_access_token_is_refreshed_by_the_client(ws: Ws) -> None:
    cal = ws.as_user(ALICE)
    cal.calendars().get(calendarId="primary").execute()
    for tok in ws.world.access_tokens.values():
        tok.revoked = True  # server-side expiry: the next call gets 401 and google-auth refreshes
    assert cal.calendars().get(calendarId="primary").execute()["id"] == ALICE
    assert sum(not t.revoked for t in ws.world.access_tokens.values()) == 1
