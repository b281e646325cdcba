"""Settings: defaults for a newcomer, and start-up errors that name the variable and the fix."""

from __future__ import annotations

import contextlib
import sqlite3
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


@pytest.mark.parametrize("target", ["file", "inside-file"])
def test_unusable_var_dir_names_the_variable(tmp_path: Path, target: str) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    var_dir = blocker if target == "file" else blocker / "var"
    with pytest.raises(ConfigError) as caught:
        load_settings({"MUSTER_VAR_DIR": str(var_dir)})
    assert caught.value.variable == "MUSTER_VAR_DIR"
    assert "cannot create the folder" in str(caught.value) and "Fix:" in str(caught.value)


def test_unusable_sqlite_folder_names_the_database_url(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    with pytest.raises(ConfigError) as caught:
        load_settings({"MUSTER_VAR_DIR": str(tmp_path), "MUSTER_DATABASE_URL": f"sqlite:///{blocker}/x/muster.db"})
    assert caught.value.variable == "MUSTER_DATABASE_URL"


def test_unreadable_or_damaged_development_key_names_var_dir(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'db' / 'muster.db'}"
    (tmp_path / "db").mkdir()  # a chosen SQLite path is never created (see test_missing_sqlite_folder_is_loud)
    (tmp_path / "secret.key").mkdir()  # a folder where the key file should be
    with pytest.raises(ConfigError) as caught:
        load_settings({"MUSTER_VAR_DIR": str(tmp_path), "MUSTER_DATABASE_URL": db})
    assert caught.value.variable == "MUSTER_VAR_DIR" and "development key" in str(caught.value)
    (tmp_path / "secret.key").rmdir()
    (tmp_path / "secret.key").write_text("short\n")
    with pytest.raises(ConfigError) as caught:
        load_settings({"MUSTER_VAR_DIR": str(tmp_path), "MUSTER_DATABASE_URL": db})
    assert "damaged" in str(caught.value)
    (tmp_path / "secret.key").unlink()
    first = load_settings({"MUSTER_VAR_DIR": str(tmp_path), "MUSTER_DATABASE_URL": db}).secret_key
    assert load_settings({"MUSTER_VAR_DIR": str(tmp_path), "MUSTER_DATABASE_URL": db}).secret_key == first


def test_retry_backoff_bounds_must_be_ordered(tmp_path: Path) -> None:
    base = {"MUSTER_VAR_DIR": str(tmp_path)}
    with pytest.raises(ConfigError) as caught:
        load_settings({**base, "MUSTER_RETRY_MIN_BACKOFF_MS": "5000", "MUSTER_RETRY_MAX_BACKOFF_MS": "4000"})
    assert caught.value.variable == "MUSTER_RETRY_MAX_BACKOFF_MS" and "MUSTER_RETRY_MIN_BACKOFF_MS" in str(caught.value)
    raised_floor = load_settings({**base, "MUSTER_RETRY_MIN_BACKOFF_MS": "900000"})
    assert (raised_floor.retry_min_backoff_ms, raised_floor.retry_max_backoff_ms) == (900_000, 900_000)
    default = load_settings(base)
    assert (default.retry_min_backoff_ms, default.retry_max_backoff_ms) == (1_000, 300_000)


def test_missing_sqlite_folder_is_loud(tmp_path: Path) -> None:
    typo = tmp_path / "vra" / "muster.db"
    with pytest.raises(ConfigError) as caught:
        load_settings({"MUSTER_VAR_DIR": str(tmp_path), "MUSTER_DATABASE_URL": f"sqlite:///{typo}"})
    assert caught.value.variable == "MUSTER_DATABASE_URL"
    assert "does not exist" in str(caught.value) and f"mkdir -p {typo.parent}" in str(caught.value)
    assert not typo.parent.exists()  # nothing was created
    # The default location is created on the first run
    assert load_settings({"MUSTER_VAR_DIR": str(tmp_path / "fresh")}).database_url.endswith("fresh/muster.db")


def test_a_new_key_is_generated_only_on_the_first_run_and_announced(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    env = {"MUSTER_VAR_DIR": str(tmp_path / "var")}
    with caplog.at_level("WARNING", logger="muster.settings"):
        first = load_settings(env)
    assert any("generated a new development secret key" in r.getMessage() for r in caplog.records)
    db_file = Path(first.database_url.removeprefix("sqlite:///"))
    with contextlib.closing(sqlite3.connect(db_file)) as conn:  # the database now holds an encrypted token
        conn.execute("CREATE TABLE google_connection (refresh_token_encrypted TEXT)")
        conn.execute("INSERT INTO google_connection VALUES ('gAAAA-ciphertext')")
        conn.commit()
    caplog.clear()
    with caplog.at_level("WARNING", logger="muster.settings"):
        assert load_settings(env).secret_key == first.secret_key  # the same key next time, silently
    assert caplog.records == []
    # A wrong MUSTER_VAR_DIR next to that database: refused, never a fresh key that cannot read the token
    db = first.database_url
    with pytest.raises(ConfigError) as caught:
        load_settings({"MUSTER_VAR_DIR": str(tmp_path / "elsewhere"), "MUSTER_DATABASE_URL": db})
    assert caught.value.variable == "MUSTER_VAR_DIR" and "encrypted with another key" in str(caught.value)
    assert not (tmp_path / "elsewhere" / "secret.key").exists()


@pytest.mark.parametrize(
    ("name", "suggestion"),
    [("MUSTER_DATABASE_ULR", "MUSTER_DATABASE_URL"), ("MUSTER_SWEEP_INTERVAL", "MUSTER_SWEEP_INTERVAL_S"),
     ("MUSTER_REDIS_URI", "MUSTER_REDIS_URL")],
)
def test_unknown_muster_variable_names_the_closest_known_one(tmp_path: Path, name: str, suggestion: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings({"MUSTER_VAR_DIR": str(tmp_path), name: "x"})
    assert caught.value.variable == name and f"did you mean {suggestion}?" in str(caught.value)
    # Test-only variables and other programs' variables are not Muster's business
    load_settings({"MUSTER_VAR_DIR": str(tmp_path), "MUSTER_TEST_REDIS_URL": "redis://x/3", "MUSTERX": "1"})


@pytest.mark.parametrize("url", ["redis://127.0.0.1:6379/abc", "redis://:pw@127.0.0.1:6379/1x"])
def test_redis_url_with_a_non_numeric_db_is_refused(tmp_path: Path, url: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings({"MUSTER_VAR_DIR": str(tmp_path), "MUSTER_REDIS_URL": url})
    assert caught.value.variable == "MUSTER_REDIS_URL" and "is not a number" in str(caught.value)
    assert ":pw@" not in str(caught.value)
    assert load_settings({"MUSTER_VAR_DIR": str(tmp_path), "MUSTER_REDIS_URL": "redis://h:6379/3"}).redis_url


def test_operations_settings(tmp_path: Path) -> None:
    base = {"MUSTER_VAR_DIR": str(tmp_path)}
    defaults = load_settings(base)
    assert (defaults.log_format, defaults.worker_health_port) == ("text", None)
    assert defaults.worker_health_host == "127.0.0.1"
    assert defaults.metrics_dir is None
    chosen = load_settings({**base, "MUSTER_LOG_FORMAT": "JSON", "MUSTER_WORKER_PORT": "0",
                            "MUSTER_WORKER_HOST": "0.0.0.0", "MUSTER_METRICS_DIR": str(tmp_path / "m")})
    assert (chosen.log_format, chosen.worker_health_port, chosen.worker_health_host) == ("json", 0, "0.0.0.0")
    assert chosen.metrics_dir == tmp_path / "m"
    with pytest.raises(ConfigError, match=r"MUSTER_LOG_FORMAT.*json or text"):
        load_settings({**base, "MUSTER_LOG_FORMAT": "yaml"})
    with pytest.raises(ConfigError, match="MUSTER_WORKER_PORT"):
        load_settings({**base, "MUSTER_WORKER_PORT": "70000"})


def test_sign_in_limits_default_and_are_read_through_their_schema(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from engine.admin.throttle import rules_of

    base = {"MUSTER_VAR_DIR": str(tmp_path)}
    monkeypatch.setenv("MUSTER_SIGN_IN_LOCK_MINUTES", "99")  # never read behind load_settings' back
    defaults = load_settings(base).sign_in_limits
    assert (defaults.account_free_failures, defaults.account_lock_after, defaults.account_max_delay_s) == (3, 10, 60)
    assert (defaults.address_free_failures, defaults.address_lock_after, defaults.address_max_delay_s) == (20, 100, 30)
    assert (defaults.lock_minutes, defaults.window_minutes) == (15, 15)
    chosen = load_settings({
        **base, "MUSTER_SIGN_IN_ACCOUNT_FREE_FAILURES": "0", "MUSTER_SIGN_IN_ACCOUNT_LOCK_AFTER": " 5 ",
        "MUSTER_SIGN_IN_ADDRESS_LOCK_AFTER": "500", "MUSTER_SIGN_IN_LOCK_MINUTES": "60",
        "MUSTER_SIGN_IN_WINDOW_MINUTES": "30", "MUSTER_SIGN_IN_ACCOUNT_MAX_DELAY_S": "120",
    }).sign_in_limits
    account, address = rules_of(chosen)  # what the throttle applies
    assert (account.free, account.lock_after, account.lock_for.total_seconds()) == (0, 5, 3600)
    assert account.max_delay.total_seconds() == 120 and account.window.total_seconds() == 1800
    assert (address.free, address.lock_after) == (20, 500)


@pytest.mark.parametrize(
    ("env", "variable", "fix"),
    [
        ({"MUSTER_SIGN_IN_ACCOUNT_LOCK_AFTER": "ten"}, "MUSTER_SIGN_IN_ACCOUNT_LOCK_AFTER", "from 1 to 100000"),
        ({"MUSTER_SIGN_IN_LOCK_MINUTES": "0"}, "MUSTER_SIGN_IN_LOCK_MINUTES", "from 1 to 1440"),
        ({"MUSTER_SIGN_IN_ADDRESS_MAX_DELAY_S": "-1"}, "MUSTER_SIGN_IN_ADDRESS_MAX_DELAY_S", "from 1 to 3600"),
        ({"MUSTER_SIGN_IN_ACCOUNT_FREE_FAILURES": "12"}, "MUSTER_SIGN_IN_ACCOUNT_FREE_FAILURES",
         "raise MUSTER_SIGN_IN_ACCOUNT_LOCK_AFTER"),
        ({"MUSTER_SIGN_IN_LOCK_MINUTE": "5"}, "MUSTER_SIGN_IN_LOCK_MINUTE",
         "did you mean MUSTER_SIGN_IN_LOCK_MINUTES?"),
    ],
)
def test_bad_sign_in_limits_name_the_variable_and_the_fix(
    tmp_path: Path, env: dict[str, str], variable: str, fix: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings({"MUSTER_VAR_DIR": str(tmp_path), **env})
    assert caught.value.variable == variable and fix in str(caught.value)
