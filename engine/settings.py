"""Configuration: the one settings object, read from environment variables.

Where it sits: every entry point (``muster serve``, ``muster worker``, the REST API, tests) calls
:func:`get_settings` once; nothing else reads ``os.environ``. A bad or missing value stops start-up with
a :class:`ConfigError` whose message names the variable and the fix, never a stack trace.

Variables:

=============================  ==========================================================================
``MUSTER_DATABASE_URL``        SQLAlchemy URL. Default: SQLite file ``./var/muster.db``.
``MUSTER_REDIS_URL``           Redis URL for the dramatiq broker, locks and rate limits. Unset: the
                               embedded in-process worker.
``MUSTER_GOOGLE_ROOT_URL``     Root URL of Google's APIs. Unset: Google itself. The emulator's URL in
                               the demo and tests, e.g. ``http://127.0.0.1:8765/``.
``MUSTER_SECRET_KEY``          Key used to encrypt credentials at rest and sign admin sessions. At least
                               32 characters. Unset: a development key is generated under ``./var/`` (only
                               allowed with a SQLite database).
``MUSTER_BASE_URL``            Public URL of Muster, used in event descriptions and OAuth redirects.
``MUSTER_DEBOUNCE_MS``         Coalescing window for reconciles of one session (default 500).
=============================  ==========================================================================
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from urllib.parse import urlparse

#: Where a newcomer's state lives by default (SQLite file, generated development key).
DEFAULT_VAR_DIR = Path("var")


class ConfigError(Exception):
    """A configuration value is missing or malformed. The message names the variable and the fix."""

    def __init__(self, variable: str, problem: str, fix: str) -> None:
        self.variable = variable
        super().__init__(f"{variable}: {problem}. Fix: {fix}")


@dataclass(frozen=True)
class Settings:
    database_url: str
    redis_url: str | None
    google_root_url: str | None
    secret_key: str
    base_url: str = "http://127.0.0.1:8000"
    debounce_ms: int = 500
    var_dir: Path = field(default=DEFAULT_VAR_DIR)

    @property
    def is_postgres(self) -> bool:
        return self.database_url.startswith("postgresql")

    @property
    def embedded_worker(self) -> bool:
        """True when no Redis is configured: actors run in-process."""
        return self.redis_url is None


def _database_url(env: Mapping[str, str], var_dir: Path) -> str:
    raw = env.get("MUSTER_DATABASE_URL", "").strip()
    if not raw:
        return f"sqlite:///{var_dir / 'muster.db'}"
    scheme = raw.split("://", 1)[0] if "://" in raw else ""
    if scheme in ("postgresql", "postgres"):
        # Plain postgresql:// means psycopg 3 here; psycopg2 is not a dependency.
        return "postgresql+psycopg://" + raw.split("://", 1)[1]
    if scheme in ("postgresql+psycopg", "sqlite"):
        return raw
    raise ConfigError(
        "MUSTER_DATABASE_URL",
        f"unsupported database URL {raw!r}",
        "use postgresql://user@host:5432/dbname or sqlite:///path/to/muster.db",
    )


def _optional_url(env: Mapping[str, str], name: str, schemes: tuple[str, ...], example: str) -> str | None:
    raw = env.get(name, "").strip()
    if not raw:
        return None
    parsed = urlparse(raw)
    if parsed.scheme not in schemes or not parsed.netloc:
        raise ConfigError(name, f"{raw!r} is not a valid URL", f"set it like {example}, or unset it")
    return raw


def _secret_key(env: Mapping[str, str], database_url: str, var_dir: Path) -> str:
    raw = env.get("MUSTER_SECRET_KEY", "").strip()
    if raw:
        if len(raw) < 32:
            raise ConfigError(
                "MUSTER_SECRET_KEY",
                f"too short ({len(raw)} characters)",
                "use at least 32 random characters, e.g. `python -c 'import secrets; print(secrets.token_urlsafe(48))'`",
            )
        return raw
    if not database_url.startswith("sqlite"):
        raise ConfigError(
            "MUSTER_SECRET_KEY",
            "missing; it is required with a PostgreSQL database",
            "set it to at least 32 random characters and keep it: credentials stored with it cannot be read without it",
        )
    key_file = var_dir / "secret.key"
    if key_file.exists():
        return key_file.read_text().strip()
    var_dir.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    key_file.write_text(key + "\n")
    key_file.chmod(0o600)
    return key


def _int(env: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(name, f"{raw!r} is not a whole number", f"use a number from {low} to {high}") from None
    if not low <= value <= high:
        raise ConfigError(name, f"{value} is out of range", f"use a number from {low} to {high}")
    return value


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Build :class:`Settings` from ``env`` (default ``os.environ``); raise :class:`ConfigError` if bad."""
    env = os.environ if env is None else env
    var_dir = Path(env.get("MUSTER_VAR_DIR", "").strip() or DEFAULT_VAR_DIR)
    database_url = _database_url(env, var_dir)
    if database_url.startswith("sqlite:///") and ":memory:" not in database_url:
        Path(database_url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    base_url = _optional_url(env, "MUSTER_BASE_URL", ("http", "https"), "https://muster.example.com")
    return Settings(
        database_url=database_url,
        redis_url=_optional_url(env, "MUSTER_REDIS_URL", ("redis", "rediss"), "redis://127.0.0.1:6379/0"),
        google_root_url=_optional_url(env, "MUSTER_GOOGLE_ROOT_URL", ("http", "https"), "http://127.0.0.1:8765/"),
        secret_key=_secret_key(env, database_url, var_dir),
        base_url=(base_url or "http://127.0.0.1:8000").rstrip("/"),
        debounce_ms=_int(env, "MUSTER_DEBOUNCE_MS", 500, 0, 60_000),
        var_dir=var_dir,
    )


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, loaded once."""
    return load_settings()
