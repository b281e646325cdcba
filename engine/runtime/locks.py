"""Per-session mutual exclusion and enqueue coalescing, in Redis (production) or in memory (embedded).

Where it sits: :mod:`engine.runtime.actors` takes the per-session lock around a reconcile (controller-runtime's
"never invoked concurrently with the same object", which dramatiq does not give by itself) and asks the
debouncer whether a reconcile is already scheduled before sending another.

* :class:`KeyLock` - ``acquire(key, ttl_s) -> token | None`` / ``renew(key, token, ttl_s) -> bool`` /
  ``release(key, token)``. The TTL bounds how long a crashed worker (SIGKILL) can hold a key; the token
  makes renew and release safe (only the holder does either). A worker that finds the key held
  re-enqueues itself with a delay; nobody spins.
* :func:`held` - a *lease*: the lock taken and renewed every third of its TTL (by one renewer thread per
  process) while the work runs, so a reconcile or a transfer that outlives one TTL keeps its key;
  ``Lease.lost`` says the renewal failed (the key expired and may be someone else's). The lease's fencing
  token, the number that protects the binding from a worker whose lease expired, lives in the database
  with the binding
  (:mod:`engine.sync.fence`), not here: it must keep growing across a Redis restart that loses data.
* :class:`Debouncer` - ``claim(key, ttl_s) -> bool`` marks "a reconcile is scheduled"; ``clear(key)`` is
  called when that reconcile starts, *before* it reads the database, so a change committed after the
  read always schedules a new reconcile (level-triggered: nothing is lost, bursts are merged). The
  marker holds the time it was claimed: ``claim(key, ttl_s, stale_after_s=S)`` also takes over a marker
  older than ``S`` seconds (its message was lost with a killed worker or a Redis restart), so the sweep
  and the outbox relay are never blocked by a marker whose reconcile will not come.

Build both with :func:`build(redis_url)`; ``None`` gives the in-memory versions.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import secrets
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol

log = logging.getLogger(__name__)

_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end
"""
_HAND_OVER = """
local held = redis.call('get', KEYS[1])
if held and held ~= ARGV[1] then return 0 end
redis.call('set', KEYS[1], ARGV[2], 'PX', ARGV[3])
return 1
"""
_RENEW = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) else return 0 end
"""


class KeyLock(Protocol):
    def acquire(self, key: str, ttl_s: float) -> str | None: ...

    def renew(self, key: str, token: str, ttl_s: float) -> bool: ...

    def release(self, key: str, token: str) -> None: ...


class Debouncer(Protocol):
    def claim(self, key: str, ttl_s: float, stale_after_s: float | None = None) -> bool: ...

    def clear(self, key: str) -> None: ...

    def hand_over(self, key: str, held_by: str, to: str, ttl_s: float) -> bool:
        """Set ``key`` to ``to`` if it is unset or holds ``held_by`` (atomically); False when another holds it."""
        ...


class _Expiring:
    """A dict of key → (value, deadline) behind one lock."""

    def __init__(self) -> None:
        self._items: dict[str, tuple[str, float]] = {}
        self._lock = threading.Lock()

    def set_nx(self, key: str, value: str, ttl_s: float, replace_if_before: float | None = None) -> bool:
        """Set unless held; ``replace_if_before``: also replace a held numeric value lower than it."""
        now = time.monotonic()
        with self._lock:
            held = self._items.get(key)
            if held is not None and held[1] > now and not _older(held[0], replace_if_before):
                return False
            self._items[key] = (value, now + ttl_s)
            return True

    def extend_if(self, key: str, value: str, ttl_s: float) -> bool:
        now = time.monotonic()
        with self._lock:
            held = self._items.get(key)
            if held is None or held[0] != value or held[1] <= now:
                return False
            self._items[key] = (value, now + ttl_s)
            return True

    def swap_if(self, key: str, expected: str, value: str, ttl_s: float) -> bool:
        """Set ``key`` to ``value`` when it is unset (or expired) or holds ``expected``."""
        now = time.monotonic()
        with self._lock:
            held = self._items.get(key)
            if held is not None and held[1] > now and held[0] != expected:
                return False
            self._items[key] = (value, now + ttl_s)
            return True

    def delete_if(self, key: str, value: str | None) -> None:
        with self._lock:
            held = self._items.get(key)
            if held is not None and (value is None or held[0] == value):
                del self._items[key]


def _older(value: str | bytes | None, before: float | None) -> bool:
    """Whether a marker ``value`` (a claim time) is older than ``before``; a marker without one counts as old."""
    if before is None or value is None:
        return False
    try:
        return float(value) < before
    except ValueError:
        return True


class MemoryLock:
    def __init__(self) -> None:
        self._store = _Expiring()

    def acquire(self, key: str, ttl_s: float) -> str | None:
        token = secrets.token_hex(8)
        return token if self._store.set_nx(key, token, ttl_s) else None

    def renew(self, key: str, token: str, ttl_s: float) -> bool:
        return self._store.extend_if(key, token, ttl_s)

    def release(self, key: str, token: str) -> None:
        self._store.delete_if(key, token)


class MemoryDebouncer:
    def __init__(self) -> None:
        self._store = _Expiring()

    def claim(self, key: str, ttl_s: float, stale_after_s: float | None = None) -> bool:
        now = time.time()
        before = None if stale_after_s is None else now - stale_after_s
        return self._store.set_nx(key, repr(now), ttl_s, replace_if_before=before)

    def clear(self, key: str) -> None:
        self._store.delete_if(key, None)

    def hand_over(self, key: str, held_by: str, to: str, ttl_s: float) -> bool:
        return self._store.swap_if(key, held_by, to, ttl_s)


class RedisLock:
    def __init__(self, client: Any, prefix: str = "muster:lock:") -> None:
        self._r = client
        self._prefix = prefix
        self._release = client.register_script(_RELEASE)
        self._renew = client.register_script(_RENEW)

    def acquire(self, key: str, ttl_s: float) -> str | None:
        token = secrets.token_hex(8)
        ok = self._r.set(self._prefix + key, token, nx=True, px=max(1, int(ttl_s * 1000)))
        return token if ok else None

    def acquire_after_delete(self, key: str, ttl_s: float, delete: str) -> str | None:
        """Delete the key ``delete`` (a debouncer's marker), then try to take ``key``: one round trip."""
        token = secrets.token_hex(8)
        pipe = self._r.pipeline(transaction=False)
        pipe.delete(delete)
        pipe.set(self._prefix + key, token, nx=True, px=max(1, int(ttl_s * 1000)))
        _deleted, ok = pipe.execute()
        return token if ok else None

    def renew(self, key: str, token: str, ttl_s: float) -> bool:
        return bool(self._renew(keys=[self._prefix + key], args=[token, max(1, int(ttl_s * 1000))]))

    def release(self, key: str, token: str) -> None:
        self._release(keys=[self._prefix + key], args=[token])


class RedisDebouncer:
    def __init__(self, client: Any, prefix: str = "muster:pending:") -> None:
        self._r = client
        self._prefix = prefix
        self._hand_over = client.register_script(_HAND_OVER)

    def claim(self, key: str, ttl_s: float, stale_after_s: float | None = None) -> bool:
        now = time.time()
        ttl_ms = max(1, int(ttl_s * 1000))
        if self._r.set(self._prefix + key, repr(now), nx=True, px=ttl_ms):
            return True
        if stale_after_s is None:
            return False
        held = self._r.get(self._prefix + key)
        if held is not None and not _older(held, now - stale_after_s):
            return False
        # a stale marker: its message is gone; take it over (the worst case is one extra reconcile)
        return bool(self._r.set(self._prefix + key, repr(now), px=ttl_ms))

    def clear(self, key: str) -> None:
        self._r.delete(self._prefix + key)

    def hand_over(self, key: str, held_by: str, to: str, ttl_s: float) -> bool:
        return bool(self._hand_over(keys=[self._prefix + key], args=[held_by, to, max(1, int(ttl_s * 1000))]))


@dataclass
class Lease:
    """A held key, renewed in the background until released. ``lost``: a renewal found the key gone."""

    key: str
    token: str
    ttl_s: float
    lost: bool = False
    renewals: int = 0
    _stop: threading.Event = field(default_factory=threading.Event, repr=False)


def _period(lease: Lease) -> float:
    return max(0.05, lease.ttl_s / 3)


def _renew_once(lock: KeyLock, lease: Lease) -> bool:
    """Renew ``lease`` once; False when it must not be renewed again (lost)."""
    try:
        ok = lock.renew(lease.key, lease.token, lease.ttl_s)
    except Exception as exc:  # Redis briefly away: try again next period; the TTL still bounds it
        log.warning("could not renew the lease on %s: %s", lease.key, exc)
        return True
    if not ok:
        if not lease._stop.is_set():
            lease.lost = True
            log.warning("the lease on %s expired before it was renewed; another worker may hold it", lease.key)
        return False
    lease.renewals += 1
    return True


class _Renewer:
    """One daemon thread renewing every lease the process holds, each every third of its TTL (a reconcile
    starts no thread of its own). A renewal that races with a release is harmless: both check the token."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._due: list[tuple[float, int, Lease, KeyLock]] = []
        self._seq = itertools.count()
        self._thread: threading.Thread | None = None

    def add(self, lock: KeyLock, lease: Lease) -> None:
        with self._cond:
            entry = (time.monotonic() + _period(lease), next(self._seq), lease, lock)
            heapq.heappush(self._due, entry)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="lease-renewer", daemon=True)
                self._thread.start()
            if self._due[0] is entry:  # due before any other: the thread waits for a later time (or for none)
                self._cond.notify()

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._due:
                    self._cond.wait()
                due_at, _, lease, lock = self._due[0]
                if lease._stop.is_set():
                    heapq.heappop(self._due)
                    continue
                wait = due_at - time.monotonic()
                if wait > 0:
                    self._cond.wait(wait)
                    continue
                heapq.heappop(self._due)
            if _renew_once(lock, lease) and not lease._stop.is_set():
                with self._cond:
                    heapq.heappush(self._due, (time.monotonic() + _period(lease), next(self._seq), lease, lock))


_renewer = _Renewer()


def _first_try(lock: KeyLock, key: str, ttl_s: float, clearing: Debouncer | None, marker: str) -> str | None:
    """Clear ``clearing``'s ``marker`` (if given), then try the lock once: one Redis round trip when both
    live on the same Redis client."""
    if clearing is None:
        return lock.acquire(key, ttl_s)
    if isinstance(lock, RedisLock) and isinstance(clearing, RedisDebouncer) and clearing._r is lock._r:
        return lock.acquire_after_delete(key, ttl_s, clearing._prefix + marker)
    clearing.clear(marker)
    return lock.acquire(key, ttl_s)


@contextmanager
def held(
    lock: KeyLock,
    key: str,
    ttl_s: float,
    *,
    wait_s: float = 0.0,
    clearing: Debouncer | None = None,
    marker: str | None = None,
) -> Iterator[Lease | None]:
    """Take ``key`` (waiting up to ``wait_s`` for its holder) and keep it while the block runs.

    ``clearing``: a debouncer whose ``marker`` (default: ``key``) is cleared first (the reconcile actor:
    "the scheduled reconcile has started"), in the same round trip as the first try of the lock.

    Yields ``None`` when the key stayed busy. Renewals (by the process's one renewer thread) stop and the
    key is released on exit; a worker killed meanwhile stops renewing, so its key expires after one TTL at
    most.
    """
    deadline = time.monotonic() + wait_s
    token = _first_try(lock, key, ttl_s, clearing, key if marker is None else marker)
    while token is None and time.monotonic() < deadline:
        time.sleep(0.1)
        token = lock.acquire(key, ttl_s)
    if token is None:
        yield None
        return
    lease = Lease(key, token, ttl_s)
    _renewer.add(lock, lease)
    try:
        yield lease
    finally:
        lease._stop.set()
        try:
            lock.release(key, token)
        except Exception as exc:  # it expires on its own
            log.warning("could not release the lease on %s: %s", key, exc)


def build(redis_url: str | None, namespace: str = "muster") -> tuple[KeyLock, Debouncer]:
    """The lock and debouncer for this deployment (shared Redis, or this process's memory); with Redis
    both use one client, so :func:`held` can clear a marker and take the lock in one round trip."""
    if redis_url is None:
        return MemoryLock(), MemoryDebouncer()
    import redis

    client = redis.Redis.from_url(redis_url)
    return RedisLock(client, f"{namespace}:lock:"), RedisDebouncer(client, f"{namespace}:pending:")
