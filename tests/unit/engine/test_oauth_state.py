"""The signed ``state`` of "Connect Google": bound to person and tenant, refused when forged or stale."""

from __future__ import annotations

import uuid
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest
from itsdangerous import URLSafeTimedSerializer

from engine.delegation.oauth import ADMIN_SCOPES, ORGANIZER_SCOPES, OAuthError, read_state, start_url
from engine.runtime.wiring import google_kit
from engine.settings import load_settings
from engine.store.models import Person, Tenant


def _settings(tmp_path: Path, **extra: str):  # type: ignore[no-untyped-def]
    env = {
        "MUSTER_VAR_DIR": str(tmp_path),
        "MUSTER_SECRET_KEY": "k" * 40,
        "MUSTER_GOOGLE_OAUTH_CLIENT_ID": "cid.apps.googleusercontent.com",
        "MUSTER_GOOGLE_OAUTH_CLIENT_SECRET": "sec",
        **extra,
    }
    return load_settings(env)


def test_start_url_for_google_and_state_round_trip(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    tenant = Tenant(slug="acme", name="Acme", directory_admin_email="admin@acme.example")
    person = Person(tenant_id=tenant.id, email="ada@acme.example")
    url = urlparse(start_url(kit=google_kit(), settings=settings, tenant=tenant, person=person))
    assert f"{url.scheme}://{url.netloc}{url.path}" == "https://accounts.google.com/o/oauth2/v2/auth"
    q = {k: v[0] for k, v in parse_qs(url.query).items()}
    assert (
        q["access_type"] == "offline" and q["prompt"] == "consent" and q["login_hint"] == "ada@acme.example"
    )
    assert q["redirect_uri"] == "http://127.0.0.1:8000/oauth/google/callback"
    assert q["scope"].split() == list(ORGANIZER_SCOPES)
    assert read_state(settings, q["state"]) == (tenant.id, person.id)
    admin = Person(tenant_id=tenant.id, email="admin@acme.example")
    q2 = parse_qs(urlparse(start_url(kit=google_kit(), settings=settings, tenant=tenant, person=admin)).query)
    assert q2["scope"][0].split() == list(ADMIN_SCOPES)


def test_emulator_urls_follow_the_root_url(tmp_path: Path) -> None:
    settings = _settings(tmp_path, MUSTER_GOOGLE_ROOT_URL="http://127.0.0.1:9999/")
    tenant = Tenant(slug="acme", name="Acme")
    url = start_url(
        kit=google_kit(),
        settings=settings, tenant=tenant, person=Person(tenant_id=tenant.id, email="a@acme.example")
    )
    assert url.startswith("http://127.0.0.1:9999/o/oauth2/v2/auth?")


def test_forged_stale_or_foreign_state_is_refused(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    forged = URLSafeTimedSerializer("x" * 40, salt="muster.oauth.google.state").dumps(
        {"t": str(uuid.uuid4()), "p": str(uuid.uuid4()), "n": "1"}
    )
    with pytest.raises(OAuthError, match="does not match"):
        read_state(settings, forged)
    with pytest.raises(OAuthError, match="does not match"):
        read_state(settings, "garbage")
    incomplete = URLSafeTimedSerializer(settings.secret_key, salt="muster.oauth.google.state").dumps(
        {"t": "x"}
    )
    with pytest.raises(OAuthError, match="incomplete"):
        read_state(settings, incomplete)


def test_not_configured_names_the_variables(tmp_path: Path) -> None:
    settings = load_settings({"MUSTER_VAR_DIR": str(tmp_path), "MUSTER_SECRET_KEY": "k" * 40})
    tenant = Tenant(slug="acme", name="Acme")
    with pytest.raises(OAuthError, match="MUSTER_GOOGLE_OAUTH_CLIENT_ID"):
        start_url(
            kit=google_kit(),
            settings=settings, tenant=tenant, person=Person(tenant_id=tenant.id, email="a@acme.example")
        )


def test_a_state_signed_before_a_key_rotation_still_reads(tmp_path: Path) -> None:
    old = _settings(tmp_path)
    tenant = Tenant(slug="acme", name="Acme")
    person = Person(tenant_id=tenant.id, email="ada@acme.example")
    url = urlparse(start_url(kit=google_kit(), settings=old, tenant=tenant, person=person))
    state = parse_qs(url.query)["state"][0]
    rotated = _settings(tmp_path, MUSTER_SECRET_KEY="n" * 40 + "," + "k" * 40)
    assert read_state(rotated, state) == (tenant.id, person.id)
    with pytest.raises(OAuthError):
        read_state(_settings(tmp_path, MUSTER_SECRET_KEY="n" * 40), state)
