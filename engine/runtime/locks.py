"""Per-session mutual exclusion and enqueue coalescing, in Redis (production) or in memory (embedded).

Where it sits: :mod:`engine.runtime.actors` takes the per-session lock around a reconcile (controller-runtime's
"never invoked concurrently with the same object", which dramatiq does not give by itself) and asks the
debouncer whether a reconcile is already scheduled before sending another.

* :class:`KeyLock` - ``acquire(key, ttl_s) -> token | None`` / ``release(key, token)``. The TTL bounds how
  long a crashed worker (SIGKILL) can hold a key; the token makes release safe (only the holder
  releases). A worker that finds the key held re-enqueues itself with a delay; nobody spins.
* :class:`Debouncer` - ``claim(key, ttl_s) -> bool`` marks "a reconcile is scheduled"; ``clear(key)`` is
  called when that reconcile starts, *before* it reads the database, so a change committed after the
  read always schedules a new reconcile (level-triggered: nothing is lost, bursts are merged).

Build both with :func:`build(redis_url)`; ``None`` gives the in-memory versions.
"""

from __future__ import annotations

import secrets
import threading
import time
from typing import Any, Protocol

_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end
"""


class KeyLock(Protocol):
    def acquire(self, key: str, ttl_s: float) -> str | None: ...

    def release(self, key: str, token: str) -> None: ...


class Debouncer(Protocol):
    def claim(self, key: str, ttl_s: float) -> bool: ...

    def clear(self, key: str) -> None: ...


class _Expiring:
    """A dict of key → (value, deadline) behind one lock."""

    def __init__(self) -> None:
        self._items: dict[str, tuple[str, float]] = {}
        self._lock = threading.Lock()

    def set_nx(self, key: str, value: str, ttl_s: float) -> bool:
        now = time.monotonic()
        with self._lock:
            held = self._items.get(key)
            if held is not None and held[1] > now:
                return False
            self._items[key] = (value, now + ttl_s)
            return True

    def delete_if(self, key: str, value: str | None) -> None:
        with self._lock:
            held = self._items.get(key)
            if held is not None and (value is None or held[0] == value):
                del self._items[key]


class MemoryLock:
    def __init__(self) -> None:
        self._store = _Expiring()

    def acquire(self, key: str, ttl_s: float) -> str | None:
        token = secrets.token_hex(8)
        return token if self._store.set_nx(key, token, ttl_s) else None

    def release(self, key: str, token: str) -> None:
        self._store.delete_if(key, token)


class MemoryDebouncer:
    def __init__(self) -> None:
        self._store = _Expiring()

    def claim(self, key: str, ttl_s: float) -> bool:
        return self._store.set_nx(key, "1", ttl_s)

    def clear(self, key: str) -> None:
        self._store.delete_if(key, None)


class RedisLock:
    def __init__(self, client: Any, prefix: str = "muster:lock:") -> None:
        self._r = client
        self._prefix = prefix
        self._release = client.register_script(_RELEASE)

    def acquire(self, key: str, ttl_s: float) -> str | None:
        token = secrets.token_hex(8)
        ok = self._r.set(self._prefix + key, token, nx=True, px=max(1, int(ttl_s * 1000)))
        return token if ok else None

    def release(self, key: str, token: str) -> None:
        self._release(keys=[self._prefix + key], args=[token])


class RedisDebouncer:
    def __init__(self, client: Any, prefix: str = "muster:pending:") -> None:
        self._r = client
        self._prefix = prefix

    def claim(self, key: str, ttl_s: float) -> bool:
        return bool(self._r.set(self._prefix + key, "1", nx=True, px=max(1, int(ttl_s * 1000))))

    def clear(self, key: str) -> None:
        self._r.delete(self._prefix + key)


def build(redis_url: str | None, namespace: str = "muster") -> tuple[KeyLock, Debouncer]:
    """The lock and debouncer for this deployment (shared Redis, or this process's memory)."""
    if redis_url is None:
        return MemoryLock(), MemoryDebouncer()
    import redis

    client = redis.Redis.from_url(redis_url)
    return RedisLock(client, f"{namespace}:lock:"), RedisDebouncer(client, f"{namespace}:pending:")
