"""Readiness probes shared by ``/readyz``, the worker's health endpoint and ``muster status``.

Where it sits: below the entry points (:mod:`engine.api.routes.health`, :mod:`engine.runtime.worker_health`,
:mod:`engine.cli.status`). Each probe answers in about a second at most and never raises: it returns a
:class:`Probe` whose ``detail`` says what is wrong and what to do.

* :func:`database` - reachable, and migrated to this build's head or newer (else "run `muster db upgrade`").
* :func:`broker` - Redis answers a PING (``embedded`` when no Redis is configured).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from engine.store.migrations import UPGRADE_HINT, schema_state

log = logging.getLogger(__name__)

#: Seconds a probe waits for Redis.
PROBE_TIMEOUT_S = 1.0


@dataclass(frozen=True)
class Probe:
    ok: bool
    state: str  #: ok | unreachable | not_migrated | embedded
    detail: str = ""

    def as_dict(self) -> dict[str, object]:
        out: dict[str, object] = {"ok": self.ok, "state": self.state}
        if self.detail:
            out["detail"] = self.detail
        return out


def database(engine: Engine) -> Probe:
    try:
        state = schema_state(engine)
    except SQLAlchemyError as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        log.warning("readiness: database unreachable: %s", reason)
        return Probe(False, "unreachable", f"cannot reach the database ({reason}); check MUSTER_DATABASE_URL")
    if state.behind:
        found = state.revision or "none"
        return Probe(False, "not_migrated", f"{UPGRADE_HINT} (database at {found}, this build needs {state.head})")
    if state.ahead:
        newer = f"schema at {state.revision}, newer than this build's {state.head} (an upgrade is rolling out)"
        return Probe(True, "ok", newer)
    return Probe(True, "ok", f"schema at {state.head}")


def redacted_redis_url(url: str) -> str:
    """``url`` with any password replaced by ``***`` (for messages)."""
    scheme, sep, rest = url.partition("://")
    userinfo, at, host = rest.rpartition("@")
    if not sep or not at or ":" not in userinfo:
        return url
    return f"{scheme}://{userinfo.split(':', 1)[0]}:***@{host}"


def ping_redis(url: str, timeout_s: float = PROBE_TIMEOUT_S) -> str | None:
    """``None`` when Redis at ``url`` answers a PING, else the reason it did not (one line)."""
    import redis

    client = redis.Redis.from_url(url, socket_connect_timeout=timeout_s, socket_timeout=timeout_s)
    try:
        client.ping()
    except (redis.RedisError, OSError) as exc:
        return str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    finally:
        client.close()
    return None


def broker(redis_url: str | None) -> Probe:
    if redis_url is None:
        return Probe(True, "embedded", "no MUSTER_REDIS_URL: the sync worker runs inside the web process")
    reason = ping_redis(redis_url)
    if reason is not None:
        return Probe(False, "unreachable", f"cannot reach Redis at {redacted_redis_url(redis_url)} ({reason})")
    return Probe(True, "ok")
