"""Quota pacing: keep Muster under Google's per-minute quotas, per acting identity and per project.

Where it sits: :func:`engine.runtime.wiring.build_port_factory` wraps every calendar port in
:class:`RateLimitedCalendar`,
which asks the :class:`RateLimiter` for a slot before each Google call. A short wait is slept inline (the
backlog then drains at the quota's pace instead of bouncing off 403 ``userRateLimitExceeded``); a long
wait raises :class:`Throttled`, which the task layer turns into a delayed re-enqueue (it does not count
as a failed attempt).

Two lanes (:func:`background`): work caused by a platform change runs in the default lane and takes slots
from the identity's and the project's buckets; background work (the drift sweep, a full verification, a
change the change feed reported) also needs a slot from a smaller bucket per identity, the background
share (``MUSTER_BACKGROUND_QUOTA_PERCENT``), and waits at most :data:`MAX_BACKGROUND_INLINE_WAIT_S` inline
so it never holds a worker thread a platform change needs. The rest of each identity's quota is the
platform's alone.

Algorithm: GCRA (generic cell rate algorithm) per bucket: one slot every ``60 / rate`` seconds with a
small burst. In Redis (shared by every worker process; Redis' own clock) or in memory (embedded).
Rates are set below the quota by the burst, so no sliding minute ever sees more than the quota.
A deferred call's delay comes from a second cursor per bucket, one slot after the call deferred before it
(:meth:`MemoryRateLimiter.defer`): a backlog refused at once (a drift pass's repairs, say) comes back one
call per slot, not all at the same moment to be refused again.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Protocol

from connectors.errors import RetriableError
from connectors.ports.calendar import Actor, CalendarPort, CheckResult, EventSpec, RemoteEvent, SendUpdates
from connectors.ports.feed import ChangeBatch, ChangeFeedPort, WatchedChannel
from engine.runtime import metrics

_GCRA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local interval = tonumber(ARGV[1])
local tau = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
if tat - now > tau then return tostring(tat - now - tau) end
redis.call('SET', KEYS[1], tostring(tat + interval), 'PX', math.ceil((tat + interval - now + 1) * 1000))
return '0'
"""

#: Every bucket of one call in one round trip: a slot is taken in all of them, or (when one must wait) in
#: none, and the longest wait is returned with the bucket's index (``"<seconds>:<index>"``, 1-based).
#: KEYS: the buckets; ARGV: interval and tau of each, in turn.
_GCRA_ALL = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local wait = 0
local worst = 0
local tats = {}
for i, key in ipairs(KEYS) do
  local interval = tonumber(ARGV[2 * i - 1])
  local tau = tonumber(ARGV[2 * i])
  local tat = tonumber(redis.call('GET', key) or now)
  if tat < now then tat = now end
  tats[i] = tat
  if tat - now - tau > wait then
    wait = tat - now - tau
    worst = i
  end
end
if wait > 0 then return tostring(wait) .. ':' .. worst end
for i, key in ipairs(KEYS) do
  local interval = tonumber(ARGV[2 * i - 1])
  redis.call('SET', key, tostring(tats[i] + interval), 'PX', math.ceil((tats[i] + interval - now + 1) * 1000))
end
return '0'
"""

#: Where a deferred call comes back (a cursor per bucket, one slot apart): ``max(now + wait, last + interval)``.
#: KEYS: the bucket's deferral cursor; ARGV: the wait, the bucket's interval. Returns the delay in seconds.
_DEFER = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local at = now + tonumber(ARGV[1])
local last = tonumber(redis.call('GET', KEYS[1]) or 0)
if last + tonumber(ARGV[2]) > at then at = last + tonumber(ARGV[2]) end
redis.call('SET', KEYS[1], tostring(at), 'PX', math.ceil((at - now + 1) * 1000))
return tostring(at - now)
"""

#: Longest wait slept inside a worker thread; longer waits are re-enqueued with a delay.
MAX_INLINE_WAIT_S = 3.0
#: The same for background work: it gives its thread back quickly when its share is used up.
MAX_BACKGROUND_INLINE_WAIT_S = 0.25

_lane: ContextVar[str] = ContextVar("muster_quota_lane", default="platform")


@contextmanager
def background() -> Iterator[None]:
    """Calls made inside run in the background lane (its share of each identity's quota only)."""
    token = _lane.set("background")
    try:
        yield
    finally:
        _lane.reset(token)


def in_background() -> bool:
    return _lane.get() == "background"


class Throttled(RetriableError):
    """No quota slot for a while; re-enqueue after ``delay`` seconds (not a failed attempt)."""

    error_class = "throttled"


@dataclass(frozen=True)
class Bucket:
    key: str
    per_minute: int
    burst: int = 5

    @property
    def interval(self) -> float:
        rate = max(1, self.per_minute - self.burst)
        return 60.0 / rate

    @property
    def tau(self) -> float:
        return self.interval * max(0, self.burst - 1)


class RateLimiter(Protocol):
    def try_acquire(self, bucket: Bucket) -> float:
        """0.0 when a slot was taken, else the seconds to wait before one frees up."""
        ...


class MultiRateLimiter(RateLimiter, Protocol):
    def try_acquire_all(self, buckets: tuple[Bucket, ...]) -> tuple[float, Bucket | None]:
        """``(0.0, None)`` when a slot was taken in every bucket, else (nothing taken) the longest wait
        and the bucket that imposes it."""
        ...


class SpacingRateLimiter(RateLimiter, Protocol):
    def defer(self, bucket: Bucket, wait: float) -> float:
        """The delay after which a call refused a slot for ``wait`` seconds should come back: its own turn,
        one slot after the calls deferred before it, so calls refused together do not return together."""
        ...


class MemoryRateLimiter:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._tat: dict[str, float] = {}
        self._deferred: dict[str, float] = {}
        self._lock = threading.Lock()
        self._clock = clock

    def try_acquire(self, bucket: Bucket) -> float:
        with self._lock:
            now = self._clock()
            tat = max(self._tat.get(bucket.key, now), now)
            if tat - now > bucket.tau:
                return tat - now - bucket.tau
            self._tat[bucket.key] = tat + bucket.interval
            return 0.0

    def try_acquire_all(self, buckets: tuple[Bucket, ...]) -> tuple[float, Bucket | None]:
        with self._lock:
            now = self._clock()
            tats = [max(self._tat.get(b.key, now), now) for b in buckets]
            wait, worst = max(
                ((tat - now - b.tau, b) for b, tat in zip(buckets, tats, strict=True)),
                key=lambda wb: wb[0],
                default=(0.0, None),
            )
            if wait > 0:
                return wait, worst
            for b, tat in zip(buckets, tats, strict=True):
                self._tat[b.key] = tat + b.interval
            return 0.0, None

    def defer(self, bucket: Bucket, wait: float) -> float:
        with self._lock:
            now = self._clock()
            at = max(now + wait, self._deferred.get(bucket.key, 0.0) + bucket.interval)
            self._deferred[bucket.key] = at
            return at - now


class RedisRateLimiter:
    def __init__(self, client: Any, prefix: str = "muster:quota:") -> None:
        self._script = client.register_script(_GCRA)
        self._all = client.register_script(_GCRA_ALL)
        self._defer = client.register_script(_DEFER)
        self._prefix = prefix

    def try_acquire(self, bucket: Bucket) -> float:
        raw = self._script(keys=[self._prefix + bucket.key], args=[repr(bucket.interval), repr(bucket.tau)])
        return float(raw.decode() if isinstance(raw, bytes) else raw)

    def try_acquire_all(self, buckets: tuple[Bucket, ...]) -> tuple[float, Bucket | None]:
        args = [v for b in buckets for v in (repr(b.interval), repr(b.tau))]
        raw = self._all(keys=[self._prefix + b.key for b in buckets], args=args)
        wait, _, index = (raw.decode() if isinstance(raw, bytes) else str(raw)).partition(":")
        return (float(wait), buckets[int(index) - 1]) if index else (0.0, None)

    def defer(self, bucket: Bucket, wait: float) -> float:
        raw = self._defer(keys=[self._prefix + "deferred:" + bucket.key], args=[repr(wait), repr(bucket.interval)])
        return float(raw.decode() if isinstance(raw, bytes) else raw)


def build(redis_url: str | None, namespace: str = "muster") -> RateLimiter:
    if redis_url is None:
        return MemoryRateLimiter()
    import redis

    return RedisRateLimiter(redis.Redis.from_url(redis_url), f"{namespace}:quota:")


def acquire(
    limiter: RateLimiter,
    buckets: tuple[Bucket, ...],
    *,
    max_inline_wait_s: float = MAX_INLINE_WAIT_S,
    sleep: Callable[[float], None] = time.sleep,
) -> None:
    """Take a slot in every bucket, sleeping short waits; raise :class:`Throttled` for long ones.

    A limiter that can (:class:`MultiRateLimiter`) takes every bucket's slot at once: one Redis round trip
    per call, and no slot taken in one bucket while another makes the call wait."""
    waited = 0.0
    take_all = getattr(limiter, "try_acquire_all", None)
    if take_all is not None and len(buckets) > 1:
        while True:
            wait, worst = take_all(buckets)
            if wait <= 0 or worst is None:
                return
            if waited + wait > max_inline_wait_s:
                raise _deferred(limiter, worst, wait)
            metrics.record_quota_wait(worst.key, "slept")
            sleep(wait)
            waited += wait
    for bucket in buckets:
        while True:
            wait = limiter.try_acquire(bucket)
            if wait <= 0:
                break
            if waited + wait > max_inline_wait_s:
                raise _deferred(limiter, bucket, wait)
            metrics.record_quota_wait(bucket.key, "slept")
            sleep(wait)
            waited += wait


def _deferred(limiter: RateLimiter, bucket: Bucket, wait: float) -> Throttled:
    """The :class:`Throttled` for a call refused a slot for ``wait`` seconds, its delay spaced from the other
    deferred calls' (:meth:`SpacingRateLimiter.defer`) when the limiter can: a backlog refused at once
    then comes back one call per slot instead of all together, each return but one refused again."""
    metrics.record_quota_wait(bucket.key, "deferred")
    spacing = getattr(limiter, "defer", None)
    delay = spacing(bucket, wait) if spacing is not None else wait
    return Throttled(f"quota for {bucket.key} is used up for {wait:.1f}s", delay=delay, reason="throttled")


class RateLimitedCalendar:
    """A :class:`~connectors.ports.calendar.CalendarPort` that takes quota slots before each call."""

    def __init__(
        self,
        inner: CalendarPort,
        limiter: RateLimiter,
        buckets: tuple[Bucket, ...],
        background: tuple[Bucket, ...] = (),
    ) -> None:
        self.actor: Actor = inner.actor
        self._inner = inner
        self._limiter = limiter
        self._buckets = buckets
        self._background = background

    def _slot(self) -> None:
        if in_background():
            acquire(self._limiter, self._background + self._buckets, max_inline_wait_s=MAX_BACKGROUND_INLINE_WAIT_S)
        else:
            acquire(self._limiter, self._buckets)

    def get(self, calendar_id: str, event_id: str) -> RemoteEvent | None:
        self._slot()
        return self._inner.get(calendar_id, event_id)

    def list_owned(self, calendar_id: str, marker: Mapping[str, str]) -> list[RemoteEvent]:
        self._slot()
        return self._inner.list_owned(calendar_id, marker)

    def insert(
        self, calendar_id: str, event_id: str, spec: EventSpec, *, send_updates: SendUpdates
    ) -> RemoteEvent:
        self._slot()
        return self._inner.insert(calendar_id, event_id, spec, send_updates=send_updates)

    def patch(
        self,
        calendar_id: str,
        event_id: str,
        spec: EventSpec,
        fields: frozenset[str],
        *,
        send_updates: SendUpdates,
        status: str | None = None,
        if_match: str | None = None,
    ) -> RemoteEvent:
        self._slot()
        return self._inner.patch(
            calendar_id, event_id, spec, fields, send_updates=send_updates, status=status, if_match=if_match
        )

    def delete(self, calendar_id: str, event_id: str, *, send_updates: SendUpdates) -> None:
        self._slot()
        self._inner.delete(calendar_id, event_id, send_updates=send_updates)

    def move(
        self, calendar_id: str, event_id: str, destination: str, *, send_updates: SendUpdates
    ) -> RemoteEvent:
        self._slot()
        return self._inner.move(calendar_id, event_id, destination, send_updates=send_updates)

    def check(self) -> CheckResult:
        return self._inner.check()


class RateLimitedFeed:
    """A :class:`~connectors.ports.feed.ChangeFeedPort` that takes a quota slot before each call (each
    page of a change listing is one call: the slot is taken per listing here and the listing's extra
    pages are charged after it, so a long resync paces the identity like any other work)."""

    def __init__(self, inner: ChangeFeedPort, limiter: RateLimiter, buckets: tuple[Bucket, ...]) -> None:
        self.actor: Actor = inner.actor
        self._inner = inner
        self._limiter = limiter
        self._buckets = buckets

    def list_changes(self, calendar_id: str, sync_token: str | None) -> ChangeBatch:
        acquire(self._limiter, self._buckets)
        batch = self._inner.list_changes(calendar_id, sync_token)
        for _ in range(batch.pages - 1):
            acquire(self._limiter, self._buckets, max_inline_wait_s=60.0)
        return batch

    def watch(self, calendar_id: str, channel_id: str, address: str, token: str, ttl_s: int) -> WatchedChannel:
        acquire(self._limiter, self._buckets)
        return self._inner.watch(calendar_id, channel_id, address, token, ttl_s)

    def stop_channel(self, channel_id: str, resource_id: str) -> None:
        acquire(self._limiter, self._buckets)
        self._inner.stop_channel(channel_id, resource_id)
