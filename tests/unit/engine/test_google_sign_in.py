"""The pure decisions of Sign in with Google: is this answer ours, and may this identity come in.

Table tests of :func:`engine.admin.google_sign_in.check_callback` and :func:`check_identity` (google-auth's
own checks of signature, issuer, audience and expiry are exercised against the emulator in
``tests/contract/test_emulator_openid.py`` and ``tests/admin_ui/test_google_sign_in.py``).
"""

from __future__ import annotations

import uuid

import pytest

from connectors.ports.sign_in import GoogleIdentity
from engine.admin.google_sign_in import (
    PENDING_MAX_AGE_S,
    GoogleSignInError,
    Pending,
    begin,
    check_callback,
    check_identity,
    pkce_challenge,
)
from engine.settings import Settings
from engine.store.models import Tenant

NOW = 1_900_000_000.0
PENDING = Pending(
    state="the-state", nonce="the-nonce", verifier="v" * 64, tenant_id=str(uuid.uuid4()), next_url="/admin/",
    started_at=NOW,
)


def _identity(**changes: object) -> GoogleIdentity:
    fields: dict[str, object] = {
        "subject": "1234", "email": "ida@acme.example", "email_verified": True, "hosted_domain": "acme.example",
        "nonce": "the-nonce",
    }
    fields.update(changes)
    return GoogleIdentity(**fields)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("pending", "state", "code", "error", "now", "expected"),
    [
        (PENDING, "the-state", "4/code", None, NOW + 5, None),
        (None, "the-state", "4/code", None, NOW, "no_pending"),
        (PENDING, "other-state", "4/code", None, NOW, "state_mismatch"),
        (PENDING, "", "4/code", None, NOW, "state_mismatch"),
        (PENDING, "the-state", "4/code", None, NOW + PENDING_MAX_AGE_S + 1, "expired"),
        (PENDING, "the-state", None, "access_denied", NOW, "access_denied"),
        (PENDING, "the-state", None, "server_error", NOW, "server_error"),
        (PENDING, "the-state", None, None, NOW, "missing_code"),
        # a forged state is refused before Google's error is believed
        (PENDING, "forged", None, "access_denied", NOW, "state_mismatch"),
    ],
)
def test_check_callback(
    pending: Pending | None, state: str, code: str | None, error: str | None, now: float, expected: str | None
) -> None:
    if expected is None:
        assert check_callback(pending=pending, state=state, code=code, error=error, now=now) == code
        return
    with pytest.raises(GoogleSignInError) as refused:
        check_callback(pending=pending, state=state, code=code, error=error, now=now)
    assert refused.value.code == expected and refused.value.fix


@pytest.mark.parametrize(
    ("identity", "domain", "expected"),
    [
        (_identity(), "acme.example", None),
        (_identity(), "ACME.example", None),
        (_identity(nonce=None), "acme.example", "nonce_mismatch"),
        (_identity(nonce="another"), "acme.example", "nonce_mismatch"),
        (_identity(email_verified=False), "acme.example", "email_unverified"),
        (_identity(hosted_domain="globex.example", email="ida@globex.example"), "acme.example", "wrong_domain"),
        (_identity(hosted_domain=None, email="ida.acme@gmail.com"), "acme.example", "wrong_domain"),
        # the email's domain is not the hd claim: only the claim counts
        (_identity(hosted_domain="globex.example"), "acme.example", "wrong_domain"),
        (_identity(), None, "wrong_domain"),
    ],
)
def test_check_identity(identity: GoogleIdentity, domain: str | None, expected: str | None) -> None:
    if expected is None:
        check_identity(identity, pending=PENDING, tenant_domain=domain)
        return
    with pytest.raises(GoogleSignInError) as refused:
        check_identity(identity, pending=PENDING, tenant_domain=domain)
    assert refused.value.code == expected


def test_begin_makes_fresh_secrets_and_the_s256_challenge() -> None:
    settings = Settings(
        database_url="sqlite://", redis_url=None, google_root_url=None, secret_key="k" * 40,
        google_oauth_client_id="id", google_oauth_client_secret="secret",
    )
    tenant = Tenant(slug="acme", name="Acme", google_domain="Acme.Example")
    one = begin(settings=settings, tenant=tenant, next_url="/admin/x", now=NOW)
    two = begin(settings=settings, tenant=tenant, next_url="/admin/x", now=NOW)
    assert one.pending.state != two.pending.state and one.pending.nonce != two.pending.nonce
    assert 43 <= len(one.pending.verifier) <= 128
    assert one.code_challenge == pkce_challenge(one.pending.verifier) and len(one.code_challenge) == 43
    assert one.hosted_domain == "acme.example"
    assert Pending.from_cookie(one.pending.to_cookie()) == one.pending
    assert Pending.from_cookie({"state": "x"}) is None
    # RFC 7636 appendix B
    rfc_verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
    rfc_challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
    assert pkce_challenge(rfc_verifier) == rfc_challenge
    with pytest.raises(GoogleSignInError) as refused:
        begin(settings=settings, tenant=Tenant(slug="x", name="X"), next_url="/admin/", now=NOW)
    assert refused.value.code == "not_offered"
