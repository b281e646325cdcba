"""A short-lived, per-process memory of checked ingest keys, so a request does not read its key again.

Where it sits: :func:`engine.api.deps.authenticate` asks :class:`KeyCache` before it reads the key and its
tenant from the database (:func:`engine.ingest.tenants.tenant_for_key`), and remembers what that read found.
Only keys that opened the API are kept (an unknown or revoked key is read every time), by the SHA-256 of
the key, for :data:`TTL_S` seconds.

Revocation: a commit in this process that changes or deletes an API key or a tenant (``muster tenant key
--replace``, an admin's deactivation, tenant set-up) empties every cache of the process at once; another
``muster serve`` process refuses a revoked key at the latest :data:`TTL_S` seconds later, when its
memory of it expires.
"""

from __future__ import annotations

import hashlib
import threading
import time
import weakref
from collections.abc import Callable
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session as OrmSession

from engine.store.models import ApiKey, Tenant

#: How long a checked key is taken on trust by one process (seconds).
TTL_S = 5.0
#: Keys remembered at most (a tenant normally has one or two).
MAX_KEYS = 1024

_FLAG = "muster.api_keys_changed"
_caches: weakref.WeakSet[KeyCache] = weakref.WeakSet()
_caches_lock = threading.Lock()


class KeyCache:
    """``key -> (tenant, key row)`` for :data:`TTL_S` seconds. Thread-safe; the rows are read-only to callers."""

    def __init__(self, ttl_s: float = TTL_S, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl_s = ttl_s
        self.clock = clock
        self._entries: dict[bytes, tuple[float, tuple[Tenant, ApiKey]]] = {}
        self._lock = threading.Lock()
        with _caches_lock:
            _caches.add(self)

    @staticmethod
    def _id(key: str) -> bytes:
        return hashlib.sha256(key.encode()).digest()

    def get(self, key: str) -> tuple[Tenant, ApiKey] | None:
        entry = self._entries.get(self._id(key))
        if entry is None or entry[0] <= self.clock():
            return None
        return entry[1]

    def put(self, key: str, found: tuple[Tenant, ApiKey]) -> None:
        with self._lock:
            if len(self._entries) >= MAX_KEYS:
                self._entries.clear()
            self._entries[self._id(key)] = (self.clock() + self.ttl_s, found)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


def forget_all() -> None:
    """Empty every cache of this process (a key or tenant changed)."""
    with _caches_lock:
        caches = list(_caches)
    for cache in caches:
        cache.clear()


@event.listens_for(OrmSession, "after_flush")
def _note_key_changes(session: OrmSession, _ctx: Any) -> None:
    touched = (*session.new, *session.dirty, *session.deleted)
    if any(isinstance(obj, ApiKey | Tenant) for obj in touched):
        session.info[_FLAG] = True


@event.listens_for(OrmSession, "after_commit")
def _forget_after_commit(session: OrmSession) -> None:
    if session.info.pop(_FLAG, False):
        forget_all()


@event.listens_for(OrmSession, "after_rollback")
def _keep_after_rollback(session: OrmSession) -> None:
    session.info.pop(_FLAG, None)
