"""Google credentials in settings: the OAuth client pair and the service-account key file, with errors
that name the variable and the fix."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from engine.settings import ConfigError, load_settings


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    return {"MUSTER_VAR_DIR": str(tmp_path), "MUSTER_SECRET_KEY": "k" * 40, **extra}


def test_oauth_pair_and_key_file(tmp_path: Path) -> None:
    key = tmp_path / "key.json"
    key.write_text(
        json.dumps(
            {
                "type": "service_account",
                "client_email": "sa@p.iam.gserviceaccount.com",
                "private_key": "-----BEGIN PRIVATE KEY-----\n...",
                "client_id": "1048",
            }
        )
    )
    settings = load_settings(
        _env(
            tmp_path,
            MUSTER_GOOGLE_OAUTH_CLIENT_ID="cid",
            MUSTER_GOOGLE_OAUTH_CLIENT_SECRET="s",
            MUSTER_GOOGLE_SERVICE_ACCOUNT_FILE=str(key),
        )
    )
    assert settings.google_oauth_client_id == "cid" and settings.google_service_account_file == key
    assert "google_oauth_client_secret" not in repr(settings)


@pytest.mark.parametrize(
    ("extra", "content", "variable", "hint"),
    [
        (
            {"MUSTER_GOOGLE_OAUTH_CLIENT_ID": "cid"},
            None,
            "MUSTER_GOOGLE_OAUTH_CLIENT_SECRET",
            "secret of the same OAuth client",
        ),
        ({"MUSTER_GOOGLE_OAUTH_CLIENT_SECRET": "s"}, None, "MUSTER_GOOGLE_OAUTH_CLIENT_ID", "client id"),
        ({}, "not json", "MUSTER_GOOGLE_SERVICE_ACCOUNT_FILE", "is not JSON"),
        (
            {},
            json.dumps({"type": "service_account"}),
            "MUSTER_GOOGLE_SERVICE_ACCOUNT_FILE",
            "lacks client_email",
        ),
        (
            {},
            json.dumps(
                {"type": "authorized_user", "client_email": "a", "private_key": "b", "client_id": "c"}
            ),
            "MUSTER_GOOGLE_SERVICE_ACCOUNT_FILE",
            "not a service account key",
        ),
    ],
)
def test_bad_google_settings_name_the_variable(
    tmp_path: Path, extra: dict[str, str], content: str | None, variable: str, hint: str
) -> None:
    env = _env(tmp_path, **extra)
    if content is not None:
        key = tmp_path / "key.json"
        key.write_text(content)
        env["MUSTER_GOOGLE_SERVICE_ACCOUNT_FILE"] = str(key)
    with pytest.raises(ConfigError) as info:
        load_settings(env)
    assert info.value.variable == variable and hint in str(info.value) and "Fix:" in str(info.value)


def test_missing_key_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="MUSTER_GOOGLE_SERVICE_ACCOUNT_FILE: cannot read"):
        load_settings(_env(tmp_path, MUSTER_GOOGLE_SERVICE_ACCOUNT_FILE=str(tmp_path / "nope.json")))
