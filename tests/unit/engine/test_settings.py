"""Settings: defaults for a newcomer, and start-up errors that name the variable and the fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.settings import ConfigError, load_settings


def test_defaults_are_embedded(tmp_path: Path) -> None:
    settings = load_settings({"MUSTER_VAR_DIR": str(tmp_path)})
    assert settings.database_url == f"sqlite:///{tmp_path / 'muster.db'}"
    assert settings.redis_url is None and settings.embedded_worker
    assert settings.google_root_url is None
    assert len(settings.secret_key) >= 32
    # The generated development key is kept, so credentials stay readable across restarts.
    assert load_settings({"MUSTER_VAR_DIR": str(tmp_path)}).secret_key == settings.secret_key


def test_postgres_url_uses_psycopg3(tmp_path: Path) -> None:
    settings = load_settings(
        {
            "MUSTER_DATABASE_URL": "postgresql://u@h:5432/db",
            "MUSTER_SECRET_KEY": "k" * 40,
            "MUSTER_VAR_DIR": str(tmp_path),
        }
    )
    assert settings.database_url == "postgresql+psycopg://u@h:5432/db"
    assert settings.is_postgres


@pytest.mark.parametrize(
    ("env", "variable", "hint"),
    [
        ({"MUSTER_DATABASE_URL": "mysql://x/y"}, "MUSTER_DATABASE_URL", "postgresql://"),
        ({"MUSTER_REDIS_URL": "localhost:6379"}, "MUSTER_REDIS_URL", "redis://"),
        ({"MUSTER_GOOGLE_ROOT_URL": "not a url"}, "MUSTER_GOOGLE_ROOT_URL", "http://127.0.0.1:8765/"),
        ({"MUSTER_SECRET_KEY": "short"}, "MUSTER_SECRET_KEY", "at least 32"),
        ({"MUSTER_DATABASE_URL": "postgresql://u@h/db"}, "MUSTER_SECRET_KEY", "required with a PostgreSQL"),
        ({"MUSTER_DEBOUNCE_MS": "soon"}, "MUSTER_DEBOUNCE_MS", "whole number"),
        ({"MUSTER_DEBOUNCE_MS": "-5"}, "MUSTER_DEBOUNCE_MS", "out of range"),
    ],
)
def test_bad_values_name_the_variable_and_fix(tmp_path: Path, env: dict[str, str], variable: str, hint: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings({**env, "MUSTER_VAR_DIR": str(tmp_path)})
    assert info.value.variable == variable
    assert str(info.value).startswith(variable)
    assert hint in str(info.value) and "Fix:" in str(info.value)
