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
                               32 characters. Several keys, comma-separated and newest first, rotate
                               keys: the first encrypts and signs, all decrypt and verify. Unset: a
                               development key is generated under ``./var/`` (only with SQLite).
``MUSTER_BASE_URL``            Public URL of Muster, used in OAuth redirects.
``MUSTER_VAR_DIR``             Folder for local state: the default SQLite file and development key (./var).
``MUSTER_DEBOUNCE_MS``         Coalescing window for reconciles of one session (default 500).
``MUSTER_QUOTA_USER_PER_MINUTE``     Google requests per minute Muster allows itself per acting user (600).
``MUSTER_QUOTA_PROJECT_PER_MINUTE``  Google requests per minute for the whole project (10000).
``MUSTER_LOCK_TTL_S``                Lifetime of a session's lease unless renewed (30): renewed while work runs.
``MUSTER_REDIS_NAMESPACE``           Prefix of Muster's Redis keys and queues (muster).
``MUSTER_SWEEP_INTERVAL_S``          Seconds between periodic drift sweeps (900).
``MUSTER_DIRECTORY_SCAN_INTERVAL_S`` Seconds between Directory scans for suspended or deleted organizers (300),
                                     on their own clock, independent of the drift sweep.
``MUSTER_MEET_RETRY_MIN_S``          First retry of a failed Meet link or room, in seconds (60); doubles.
``MUSTER_MEET_RETRY_MAX_S``          Longest wait between two such retries (3600).
``MUSTER_RETRY_MIN_BACKOFF_MS``      First retry delay after a retryable Google error (1000); doubles, jittered.
``MUSTER_RETRY_MAX_BACKOFF_MS``      Longest retry delay (300000).
``MUSTER_WEBHOOK_RETRY_MIN_MS``     First retry of a webhook the platform did not accept (5000); doubles, jittered.
``MUSTER_WEBHOOK_RETRY_MAX_MS``     Longest wait between two webhook attempts (3600000).
``MUSTER_WEBHOOK_MAX_ATTEMPTS``     Attempts before a webhook is marked failed (replayable from the admin UI) (25).
``MUSTER_WEBHOOK_RETENTION_DAYS``   Days a delivered or failed webhook stays in the delivery log (30).
``MUSTER_WEBHOOKS_ALLOW_LOOPBACK``  ``1``: a plain ``http://localhost`` / ``127.0.0.1`` / ``[::1]`` webhook URL is
                                    accepted (a receiver on Muster's own machine: development, the demo, tests).
                                    Unset or ``0`` (production): refused on save and at delivery (SSRF).
``MUSTER_GOOGLE_OAUTH_CLIENT_ID``      OAuth client id of Muster's Google Cloud project, used when an
                                     organizer clicks "Connect Google" (delegation mode, per-person consent)
                                     and by "Sign in with Google" on the admin UI's sign-in page.
``MUSTER_GOOGLE_OAUTH_CLIENT_SECRET``  Its secret. Both or neither must be set.
``MUSTER_SESSION_IDLE_MINUTES``      An admin UI sign-in ends after this many minutes without a request (30).
``MUSTER_SESSION_MAX_HOURS``         ... and this many hours after signing in, whatever the activity (12).
``MUSTER_SIGN_IN_*``                 Sign-in throttling limits (:class:`SignInLimits`, a pydantic-settings
                                     schema): free failures, lock threshold and longest delay per account
                                     and per client address, lock length and counting window.
``MUSTER_GOOGLE_SERVICE_ACCOUNT_FILE`` Path of the service account's JSON key (domain-wide delegation and the
                                     vendor owner accounts). Read and checked at start-up.
``MUSTER_WORKER_HOST`` / ``_PORT``   Where ``muster worker`` serves /metrics, /livez, /readyz (127.0.0.1 / 9465,
                                     or a free port when 9465 is taken; 0: any free port; announced in Redis).
``MUSTER_LOG_FORMAT``                ``text`` (default) or ``json`` (one JSON object per line).
``MUSTER_METRICS_DIR``               Empty folder for the metrics files of one command's processes (default: a
                                     fresh temporary folder, removed at exit).
``MUSTER_PUSH_URL``                  Public HTTPS URL of ``POST /google/push``: Google's change notifications
                                     (unset: no push channels; changes are polled every MUSTER_FEED_POLL_S).
``MUSTER_FEED_POLL_S``               Seconds between incremental syncs of every followed calendar (10; 300
                                     with MUSTER_PUSH_URL, as the catch-up for a lost notification).
``MUSTER_PUSH_CHANNEL_TTL_S``        Lifetime asked for each push channel (604800); renewed with a quarter left.
=============================  ==========================================================================
"""

from __future__ import annotations

import contextlib
import difflib
import json
import logging
import os
import secrets
import sqlite3
from collections.abc import Iterator, Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from annotated_types import Ge, Le
from pydantic import Field, ValidationError
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, EnvSettingsSource, PydanticBaseSettingsSource, SettingsConfigDict

from engine.private_files import make_folder, write_private

#: Where a newcomer's state lives by default (SQLite file, generated development key).
DEFAULT_VAR_DIR = Path("var")
#: ``MUSTER_*`` variables read by the test suite only (never by Muster itself); not refused as unknown.
TEST_ONLY_VARIABLES = frozenset(
    {"MUSTER_TEST_POSTGRES_URL", "MUSTER_TEST_REDIS_URL", "MUSTER_REQUIRE_SERVICES", "MUSTER_SCREENSHOTS",
     "MUSTER_CHROMIUM", "MUSTER_TEST_FUZZ_EXAMPLES"}
)

log = logging.getLogger("muster.settings")


class ConfigError(Exception):
    """A configuration value is missing or malformed. The message names the variable and the fix."""

    def __init__(self, variable: str, problem: str, fix: str) -> None:
        self.variable = variable
        super().__init__(f"{variable}: {problem}. Fix: {fix}")


#: The environment :meth:`SignInLimits.from_env` reads (empty otherwise: never ``os.environ`` behind the
#: back of :func:`load_settings`, which also refuses unknown ``MUSTER_*`` names).
_LIMITS_ENV: ContextVar[Mapping[str, str] | None] = ContextVar("muster_sign_in_env", default=None)


class _MappingEnvSource(EnvSettingsSource):
    """pydantic-settings' environment source over the mapping :func:`load_settings` was given."""

    def _load_env_vars(self) -> Mapping[str, str | None]:
        return {k.lower(): v for k, v in (_LIMITS_ENV.get() or {}).items()}


class SignInLimits(BaseSettings):
    """Sign-in throttling (:mod:`engine.admin.throttle`): the one schema, read from ``MUSTER_SIGN_IN_*``.

    Per key (an account, a client address): the first ``*_free_failures`` cost nothing; then each attempt
    must wait 2, 4, 8 ... seconds (at most ``*_max_delay_s``) after the previous failure; at
    ``*_lock_after`` failures the key is locked for ``lock_minutes``; ``window_minutes`` after the last
    failure the count starts again. Many people may share an address (an office behind NAT), hence its
    larger defaults.
    """

    model_config = SettingsConfigDict(env_prefix="MUSTER_SIGN_IN_", frozen=True, extra="forbid")

    account_free_failures: int = Field(3, ge=0, le=1_000)
    account_lock_after: int = Field(10, ge=1, le=100_000)
    account_max_delay_s: int = Field(60, ge=1, le=3_600)
    address_free_failures: int = Field(20, ge=0, le=100_000)
    address_lock_after: int = Field(100, ge=1, le=1_000_000)
    address_max_delay_s: int = Field(30, ge=1, le=3_600)
    lock_minutes: int = Field(15, ge=1, le=24 * 60)
    window_minutes: int = Field(15, ge=1, le=24 * 60)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, _MappingEnvSource(settings_cls))

    @staticmethod
    def variable(field_name: str) -> str:
        return "MUSTER_SIGN_IN_" + field_name.upper()

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> SignInLimits:
        """The limits in ``env``; :class:`ConfigError` naming the variable and its bounds when one is bad."""
        # Only the schema's own names are read (and so known to the unknown-variable check).
        known = {cls.variable(n): str(env.get(cls.variable(n)) or "") for n in cls.model_fields}
        token = _LIMITS_ENV.set({k: v for k, v in known.items() if v.strip()})
        try:
            limits = cls()
        except ValidationError as exc:
            error = exc.errors()[0]
            name = str(error["loc"][0]) if error["loc"] else ""
            raw = env.get(cls.variable(name), "")
            low, high = _bounds(cls.model_fields.get(name))
            raise ConfigError(cls.variable(name), f"{raw.strip()!r} is not allowed ({error['msg']})",
                              f"use a whole number from {low} to {high}, or unset it") from None
        finally:
            _LIMITS_ENV.reset(token)
        for scope in ("account", "address"):
            free, lock = getattr(limits, f"{scope}_free_failures"), getattr(limits, f"{scope}_lock_after")
            if free > lock:
                raise ConfigError(cls.variable(f"{scope}_free_failures"),
                                  f"{free} is above {cls.variable(f'{scope}_lock_after')} ({lock})",
                                  f"use a number from 0 to {lock}, or raise {cls.variable(f'{scope}_lock_after')}")
        return limits


def _bounds(info: FieldInfo | None) -> tuple[object, object]:
    low: object = "?"
    high: object = "?"
    for meta in info.metadata if info is not None else ():
        if isinstance(meta, Ge):
            low = meta.ge
        elif isinstance(meta, Le):
            high = meta.le
    return low, high


def _default_limits() -> SignInLimits:
    return SignInLimits.from_env({})


@dataclass(frozen=True)
class Settings:
    database_url: str
    redis_url: str | None
    google_root_url: str | None
    secret_key: str  #: the first (current) key: encrypts credentials, signs cookies and OAuth state
    base_url: str = "http://127.0.0.1:8000"
    debounce_ms: int = 500
    var_dir: Path = field(default=DEFAULT_VAR_DIR)
    #: OAuth client for per-organizer consent (None = "Connect Google" is not offered).
    google_oauth_client_id: str | None = None
    google_oauth_client_secret: str | None = field(default=None, repr=False)
    #: The service account's JSON key file (None = no domain-wide delegation, no vendor service account).
    google_service_account_file: Path | None = None
    #: Google quotas Muster paces itself under (requests per minute per acting user / per project).
    quota_user_per_minute: int = 600
    quota_project_per_minute: int = 10_000
    #: Share (percent) of each identity's quota that background work (the drift sweep, a full verification,
    #: changes the change feed reports) may use: the rest is kept for platform changes, which always go first.
    background_quota_percent: int = 50
    #: Sync tuning: per-session lock lifetime (bounds how long a killed worker blocks a session), periodic
    #: drift sweep interval, and dramatiq's retry backoff for retryable Google errors.
    lock_ttl_s: int = 30
    #: Prefix of every Redis key Muster uses (queues, locks, quotas, metrics): deployments can share a Redis.
    redis_namespace: str = "muster"
    sweep_interval_s: int = 900
    #: The organizer lifecycle pass (Directory scan, due transfers) runs on its own clock.
    directory_scan_interval_s: int = 300
    #: Muster retries a failed Meet link or an unavailable room by itself: first after ``meet_retry_min_s``,
    #: doubling up to ``meet_retry_max_s``.
    meet_retry_min_s: int = 60
    meet_retry_max_s: int = 3_600
    retry_min_backoff_ms: int = 1_000
    retry_max_backoff_ms: int = 300_000
    #: Outbound webhooks (engine.webhooks): retry backoff after a failed attempt, and attempts before giving up.
    webhook_retry_min_ms: int = 5_000
    webhook_retry_max_ms: int = 3_600_000
    webhook_max_attempts: int = 25
    #: Days a delivered or failed webhook stays in the delivery log before it is deleted.
    webhook_retention_days: int = 30
    #: Accept plain ``http://`` webhook URLs naming the loopback host (a receiver on this very machine: the
    #: demo, development, tests). Off in production: such a URL points deliveries at the worker's own services.
    webhooks_allow_loopback: bool = False
    #: Admin UI sessions (server-side, see engine.admin.web_sessions): idle and absolute lifetime.
    #: Every configured key, newest first (``MUSTER_SECRET_KEY="new,old"``): all decrypt and verify.
    secret_keys: tuple[str, ...] = ()
    session_idle_minutes: int = 30
    session_max_hours: int = 12
    #: Sign-in throttling (``MUSTER_SIGN_IN_*``), read by :mod:`engine.admin.throttle`.
    sign_in_limits: SignInLimits = field(default_factory=_default_limits)
    #: Where each ``muster worker`` serves /metrics, /livez and /readyz (port 0: any free port; None: 9465,
    #: or any free port when another worker command on the machine holds 9465).
    worker_health_host: str = "127.0.0.1"
    worker_health_port: int | None = None
    #: Log lines as JSON objects (``json``) or readable text (``text``).
    log_format: str = "text"
    #: Folder for the metrics of a command's processes (None: a fresh temporary folder per command).
    metrics_dir: Path | None = None
    #: Public HTTPS URL of ``POST /google/push`` (None: no push channels; the feed clock polls instead).
    push_url: str | None = None
    #: Seconds between the feed clock's passes (incremental sync of every followed calendar).
    feed_poll_s: int = 10
    #: Lifetime asked for each push channel (renewed when a quarter of it is left).
    push_channel_ttl_s: int = 7 * 86_400

    @property
    def all_secret_keys(self) -> tuple[str, ...]:
        """The keys that decrypt and verify, newest first (just ``secret_key`` unless several are set)."""
        return self.secret_keys or (self.secret_key,)

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


def _redis_url(env: Mapping[str, str]) -> str | None:
    url = _optional_url(env, "MUSTER_REDIS_URL", ("redis", "rediss"), "redis://127.0.0.1:6379/0")
    if url is None:
        return None
    db = urlparse(url).path.strip("/")
    if db and not db.isdigit():
        raise ConfigError("MUSTER_REDIS_URL", f"the database {db!r} in {url.split('@')[-1]!r} is not a number "
                          "(Redis would silently use database 0)", "end the URL with a database number, e.g. /0")
    return url


def secret_keys_of(env: Mapping[str, str]) -> tuple[str, ...]:
    """``MUSTER_SECRET_KEY`` split into keys (comma-separated, newest first); empty when unset."""
    raw = env.get("MUSTER_SECRET_KEY", "").strip()
    if not raw:
        return ()
    keys = tuple(k.strip() for k in raw.split(","))
    for n, key in enumerate(keys, 1):
        if len(key) < 32:
            which = "" if len(keys) == 1 else f"key {n} of {len(keys)} "
            raise ConfigError(
                "MUSTER_SECRET_KEY",
                f"{which}too short ({len(key)} characters)",
                "use at least 32 random characters per key, e.g. "
                "`python -c 'import secrets; print(secrets.token_urlsafe(48))'`; several keys are "
                "comma-separated, the newest first",
            )
    if len(set(keys)) != len(keys):
        raise ConfigError("MUSTER_SECRET_KEY", "the same key is listed twice", "list each key once, newest first")
    return keys


def _secret_key(env: Mapping[str, str], database_url: str, var_dir: Path) -> str:
    keys = secret_keys_of(env)
    if keys:
        return keys[0]
    if not database_url.startswith("sqlite"):
        raise ConfigError(
            "MUSTER_SECRET_KEY",
            "missing; it is required with a PostgreSQL database",
            "set it to at least 32 random characters and keep it: credentials stored with it cannot be read without it",
        )
    key_file = var_dir / "secret.key"
    try:
        if key_file.exists():
            key = key_file.read_text().strip()
            if len(key) < 32:
                raise ConfigError("MUSTER_VAR_DIR", f"the development key {str(key_file)!r} is damaged",
                                  "delete that file (a new key is generated) or set MUSTER_SECRET_KEY")
            return key
        _refuse_key_for_existing_database(database_url, key_file)
        _make_folder(var_dir, "MUSTER_VAR_DIR")
        key = secrets.token_urlsafe(48)
        write_private(key_file, key + "\n")
        log.warning("first run: generated a new development secret key in %s (keep it: stored credentials "
                    "cannot be read without it; set MUSTER_SECRET_KEY in production)", key_file)
    except OSError as exc:
        raise ConfigError("MUSTER_VAR_DIR", f"cannot read or write the development key {str(key_file)!r} "
                          f"({exc.strerror or exc})",
                          "point MUSTER_VAR_DIR at a folder Muster may write to, or set MUSTER_SECRET_KEY") from None
    return key


def _refuse_key_for_existing_database(database_url: str, key_file: Path) -> None:
    """A new development key is generated on the first run only: never for a SQLite database that already
    holds credentials encrypted with another key (a wrong MUSTER_VAR_DIR: the new key could not read them).
    """
    path = database_url.removeprefix("sqlite:///")
    if ":memory:" in database_url or not database_url.startswith("sqlite:///") or not path:
        return
    db_file = Path(path)
    if not db_file.is_file() or db_file.stat().st_size == 0:
        return
    try:
        with contextlib.closing(sqlite3.connect(f"file:{db_file}?mode=ro", uri=True)) as conn:
            row = conn.execute(
                "SELECT 1 FROM google_connection WHERE refresh_token_encrypted IS NOT NULL LIMIT 1"
            ).fetchone()
    except sqlite3.Error:
        return  # not a Muster database yet (or not migrated): nothing encrypted to lose
    if row is not None:
        raise ConfigError("MUSTER_VAR_DIR", f"there is no development key {str(key_file)!r}, but the database "
                          f"{str(db_file)!r} holds Google credentials encrypted with another key (a new key "
                          "could not read them)", "point MUSTER_VAR_DIR at the folder that holds its secret.key, "
                          "or set MUSTER_SECRET_KEY to the key it was created with")


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


class _Reads(Mapping[str, str]):
    """``env`` remembering which names were looked up, so an unknown ``MUSTER_*`` variable can be named."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self._env = env
        self.asked: set[str] = set()

    def __getitem__(self, key: str) -> str:
        self.asked.add(key)
        return self._env[key]

    def get(self, key: str, default: Any = None) -> Any:
        self.asked.add(key)
        return self._env.get(key, default)

    def __iter__(self) -> Iterator[str]:
        return iter(self._env)

    def __len__(self) -> int:
        return len(self._env)


def _refuse_unknown(env: Mapping[str, str], known: set[str]) -> None:
    """:class:`ConfigError` for a ``MUSTER_*`` variable Muster never reads (a typo would be silently ignored)."""
    known = known | TEST_ONLY_VARIABLES
    for name in sorted(env):
        if name.startswith("MUSTER_") and name not in known:
            close = difflib.get_close_matches(name, sorted(n for n in known if n.startswith("MUSTER_")), n=1)
            fix = f"did you mean {close[0]}? Rename it" if close else "remove it (see README.md, Configuration)"
            raise ConfigError(name, "is not a variable Muster knows", f"{fix}, or unset it")


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Build :class:`Settings` from ``env`` (default ``os.environ``); raise :class:`ConfigError` if bad.

    Every ``MUSTER_*`` variable in ``env`` must be one this function reads (or a test-only one).
    """
    reads = _Reads(os.environ if env is None else env)
    settings = _load(reads)
    _refuse_unknown(reads, reads.asked)
    return settings


def _load(env: Mapping[str, str]) -> Settings:
    var_dir = Path(env.get("MUSTER_VAR_DIR", "").strip() or DEFAULT_VAR_DIR)
    database_url = _database_url(env, var_dir)
    if database_url.startswith("sqlite:///") and ":memory:" not in database_url:
        folder = Path(database_url.removeprefix("sqlite:///")).parent
        if env.get("MUSTER_DATABASE_URL", "").strip():
            # A chosen path is never created: a typo would silently start an empty database.
            if not folder.is_dir():
                raise ConfigError("MUSTER_DATABASE_URL",
                                  f"the folder {str(folder)!r} of the SQLite file does not exist",
                                  f"correct the path, or create the folder first (mkdir -p {folder})")
        else:
            _make_folder(folder, "MUSTER_VAR_DIR")
    base_url = _optional_url(env, "MUSTER_BASE_URL", ("http", "https"), "https://muster.example.com")
    oauth_id, oauth_secret = _oauth_client(env)
    return Settings(
        database_url=database_url,
        redis_url=_redis_url(env),
        google_root_url=_optional_url(env, "MUSTER_GOOGLE_ROOT_URL", ("http", "https"), "http://127.0.0.1:8765/"),
        secret_key=_secret_key(env, database_url, var_dir),
        secret_keys=secret_keys_of(env),
        base_url=(base_url or "http://127.0.0.1:8000").rstrip("/"),
        debounce_ms=_int(env, "MUSTER_DEBOUNCE_MS", 500, 0, 60_000),
        var_dir=var_dir,
        google_oauth_client_id=oauth_id,
        google_oauth_client_secret=oauth_secret,
        google_service_account_file=_service_account_file(env),
        quota_user_per_minute=_int(env, "MUSTER_QUOTA_USER_PER_MINUTE", 600, 1, 1_000_000),
        quota_project_per_minute=_int(env, "MUSTER_QUOTA_PROJECT_PER_MINUTE", 10_000, 1, 10_000_000),
        background_quota_percent=_int(env, "MUSTER_BACKGROUND_QUOTA_PERCENT", 50, 1, 100),
        lock_ttl_s=_int(env, "MUSTER_LOCK_TTL_S", 30, 1, 3600),
        redis_namespace=_namespace(env),
        sweep_interval_s=_int(env, "MUSTER_SWEEP_INTERVAL_S", 900, 1, 7 * 86_400),
        directory_scan_interval_s=_int(env, "MUSTER_DIRECTORY_SCAN_INTERVAL_S", 300, 1, 86_400),
        meet_retry_min_s=_int(env, "MUSTER_MEET_RETRY_MIN_S", 60, 1, 86_400),
        meet_retry_max_s=_meet_retry_max(env),
        retry_min_backoff_ms=_int(env, "MUSTER_RETRY_MIN_BACKOFF_MS", 1_000, 1, 3_600_000),
        retry_max_backoff_ms=_retry_max(env),
        webhook_retry_min_ms=_int(env, "MUSTER_WEBHOOK_RETRY_MIN_MS", 5_000, 1, 3_600_000),
        webhook_retry_max_ms=_webhook_retry_max(env),
        webhook_max_attempts=_int(env, "MUSTER_WEBHOOK_MAX_ATTEMPTS", 25, 1, 1_000),
        webhook_retention_days=_int(env, "MUSTER_WEBHOOK_RETENTION_DAYS", 30, 1, 3_650),
        webhooks_allow_loopback=_flag(env, "MUSTER_WEBHOOKS_ALLOW_LOOPBACK"),
        session_idle_minutes=_int(env, "MUSTER_SESSION_IDLE_MINUTES", 30, 1, 7 * 24 * 60),
        session_max_hours=_int(env, "MUSTER_SESSION_MAX_HOURS", 12, 1, 30 * 24),
        sign_in_limits=SignInLimits.from_env(env),
        worker_health_host=env.get("MUSTER_WORKER_HOST", "").strip() or "127.0.0.1",
        worker_health_port=_int(env, "MUSTER_WORKER_PORT", 0, 0, 65535) if env.get("MUSTER_WORKER_PORT", "").strip()
        else None,
        log_format=_log_format(env),
        metrics_dir=Path(env["MUSTER_METRICS_DIR"].strip()) if env.get("MUSTER_METRICS_DIR", "").strip() else None,
        push_url=_push_url(env),
        feed_poll_s=_int(env, "MUSTER_FEED_POLL_S", 300 if _push_url(env) else 10, 1, 86_400),
        push_channel_ttl_s=_int(env, "MUSTER_PUSH_CHANNEL_TTL_S", 7 * 86_400, 300, 30 * 86_400),
    )


def _flag(env: Mapping[str, str], name: str) -> bool:
    """An on/off variable: ``1``/``true``/``yes``/``on`` or ``0``/``false``/``no``/``off`` (unset: off)."""
    raw = env.get(name, "").strip().lower()
    if raw in ("", "0", "false", "no", "off"):
        return False
    if raw in ("1", "true", "yes", "on"):
        return True
    raise ConfigError(name, f"{raw!r} is not on or off", "set it to 1 (on) or 0 (off), or unset it (off)")


def _push_url(env: Mapping[str, str]) -> str | None:
    """``MUSTER_PUSH_URL``: where Google posts change notifications. Google accepts only HTTPS; plain HTTP
    is allowed to a loopback host only (the emulator in tests and benchmarks)."""
    example = "https://muster.example.com/google/push"
    url = _optional_url(env, "MUSTER_PUSH_URL", ("https", "http"), example)
    if url is not None and urlparse(url).scheme == "http" and urlparse(url).hostname not in ("127.0.0.1", "localhost"):
        raise ConfigError("MUSTER_PUSH_URL", f"{url!r} is not HTTPS (Google posts notifications only to HTTPS)",
                          f"set it like {example}, or unset it to poll for changes instead")
    return url


def log_format_from_env(env: Mapping[str, str] | None = None) -> str:
    """``MUSTER_LOG_FORMAT`` alone (the command line sets up logging before it loads the other settings)."""
    return _log_format(os.environ if env is None else env)


def _log_format(env: Mapping[str, str]) -> str:
    raw = env.get("MUSTER_LOG_FORMAT", "").strip().lower() or "text"
    if raw not in ("text", "json"):
        raise ConfigError("MUSTER_LOG_FORMAT", f"unknown format {raw!r}", "set it to json or text, or unset it")
    return raw


def _retry_max(env: Mapping[str, str]) -> int:
    low = _int(env, "MUSTER_RETRY_MIN_BACKOFF_MS", 1_000, 1, 3_600_000)
    high = _int(env, "MUSTER_RETRY_MAX_BACKOFF_MS", max(300_000, low), 1, 86_400_000)
    if high < low:
        raise ConfigError("MUSTER_RETRY_MAX_BACKOFF_MS", f"{high} is below MUSTER_RETRY_MIN_BACKOFF_MS ({low})",
                          f"use a number from {low} to 86400000, or lower MUSTER_RETRY_MIN_BACKOFF_MS")
    return high


def _webhook_retry_max(env: Mapping[str, str]) -> int:
    low = _int(env, "MUSTER_WEBHOOK_RETRY_MIN_MS", 5_000, 1, 3_600_000)
    high = _int(env, "MUSTER_WEBHOOK_RETRY_MAX_MS", max(3_600_000, low), 1, 86_400_000)
    if high < low:
        raise ConfigError("MUSTER_WEBHOOK_RETRY_MAX_MS", f"{high} is below MUSTER_WEBHOOK_RETRY_MIN_MS ({low})",
                          f"use a number from {low} to 86400000, or lower MUSTER_WEBHOOK_RETRY_MIN_MS")
    return high


def _meet_retry_max(env: Mapping[str, str]) -> int:
    low = _int(env, "MUSTER_MEET_RETRY_MIN_S", 60, 1, 86_400)
    high = _int(env, "MUSTER_MEET_RETRY_MAX_S", max(3_600, low), 1, 7 * 86_400)
    if high < low:
        raise ConfigError("MUSTER_MEET_RETRY_MAX_S", f"{high} is below MUSTER_MEET_RETRY_MIN_S ({low})",
                          f"use a number from {low} to 604800, or lower MUSTER_MEET_RETRY_MIN_S")
    return high


def _make_folder(folder: Path, variable: str) -> None:
    """Create ``folder`` for local state; :class:`ConfigError` naming ``variable`` when that is impossible."""
    try:
        make_folder(folder)
    except OSError as exc:
        raise ConfigError(variable, f"cannot create the folder {str(folder)!r} ({exc.strerror or exc})",
                          "point it at a folder Muster may write to") from None


def _namespace(env: Mapping[str, str]) -> str:
    raw = env.get("MUSTER_REDIS_NAMESPACE", "").strip() or "muster"
    if not all(c.isalnum() or c in "-_" for c in raw) or len(raw) > 40:
        raise ConfigError("MUSTER_REDIS_NAMESPACE", f"{raw!r} is not a valid namespace",
                          "use up to 40 letters, digits, '-' or '_' (default: muster)")
    return raw


def _oauth_client(env: Mapping[str, str]) -> tuple[str | None, str | None]:
    client_id = env.get("MUSTER_GOOGLE_OAUTH_CLIENT_ID", "").strip() or None
    secret = env.get("MUSTER_GOOGLE_OAUTH_CLIENT_SECRET", "").strip() or None
    if client_id and not secret:
        raise ConfigError("MUSTER_GOOGLE_OAUTH_CLIENT_SECRET",
                          "missing while MUSTER_GOOGLE_OAUTH_CLIENT_ID is set",
                          "copy the secret of the same OAuth client (Google Cloud console > Credentials)")
    if secret and not client_id:
        raise ConfigError("MUSTER_GOOGLE_OAUTH_CLIENT_ID",
                          "missing while MUSTER_GOOGLE_OAUTH_CLIENT_SECRET is set",
                          "copy the client id (…apps.googleusercontent.com) of the same OAuth client")
    return client_id, secret


#: Fields a service-account JSON key must carry for google-auth to sign with it.
SERVICE_ACCOUNT_KEY_FIELDS = ("type", "client_email", "private_key", "client_id")


def read_service_account_key(path: Path,
                             variable: str = "MUSTER_GOOGLE_SERVICE_ACCOUNT_FILE") -> dict[str, str]:
    """Parse and check a service-account JSON key; :class:`ConfigError` names ``variable`` and the fix."""
    fix = ("download a JSON key for the service account (Google Cloud console > IAM > Service accounts > "
           "Keys > Add key > JSON) and point the variable at it")
    try:
        raw = path.read_text()
    except OSError as exc:
        raise ConfigError(variable, f"cannot read {str(path)!r} ({exc.strerror or exc})", fix) from None
    try:
        info = json.loads(raw)
    except json.JSONDecodeError:
        raise ConfigError(variable, f"{str(path)!r} is not JSON", fix) from None
    if not isinstance(info, dict):
        raise ConfigError(variable, f"{str(path)!r} is not a JSON object", fix)
    missing = [k for k in SERVICE_ACCOUNT_KEY_FIELDS if not isinstance(info.get(k), str) or not info.get(k)]
    if missing:
        raise ConfigError(variable, f"{str(path)!r} lacks {', '.join(missing)}", fix)
    if info["type"] != "service_account":
        raise ConfigError(variable, f"{str(path)!r} is a {info['type']!r} key, not a service account key "
                          "(an OAuth client file belongs in MUSTER_GOOGLE_OAUTH_CLIENT_ID/_SECRET)", fix)
    return {str(k): str(v) for k, v in info.items() if isinstance(v, str)}


def _service_account_file(env: Mapping[str, str]) -> Path | None:
    raw = env.get("MUSTER_GOOGLE_SERVICE_ACCOUNT_FILE", "").strip()
    if not raw:
        return None
    path = Path(raw)
    read_service_account_key(path)  # fail at start-up, not at the first sync
    return path


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, loaded once."""
    return load_settings()
