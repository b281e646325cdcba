"""Per-session lock, enqueue debouncer and quota limiter, in memory and in Redis (same tests)."""

from __future__ import annotations

import itertools
import threading
import time
from typing import Any

import pytest

from engine.runtime import locks, ratelimit


@pytest.fixture(params=["memory", "redis"])
def backend(request: pytest.FixtureRequest) -> str | None:
    if request.param == "memory":
        return None
    url: str = request.getfixturevalue("redis_url")
    import redis

    client = redis.Redis.from_url(url)
    for k in client.scan_iter("muster:*test*"):
        client.delete(k)
    return url


def test_lock_is_exclusive_and_only_the_holder_releases(backend: str | None) -> None:
    lock, _ = locks.build(backend)
    key = f"test-{time.monotonic_ns()}"
    token = lock.acquire(key, 5)
    assert token is not None
    assert lock.acquire(key, 5) is None
    lock.release(key, "not-the-token")
    assert lock.acquire(key, 5) is None
    lock.release(key, token)
    again = lock.acquire(key, 5)
    assert again is not None
    lock.release(key, again)


def test_lock_expires_after_its_ttl(backend: str | None) -> None:
    lock, _ = locks.build(backend)
    key = f"test-ttl-{time.monotonic_ns()}"
    assert lock.acquire(key, 0.2) is not None  # a holder that died without releasing
    time.sleep(0.3)
    assert lock.acquire(key, 5) is not None


def test_lock_under_contention_admits_one(backend: str | None) -> None:
    lock, _ = locks.build(backend)
    key = f"test-race-{time.monotonic_ns()}"
    wins: list[Any] = []
    barrier = threading.Barrier(8)

    def contend() -> None:
        barrier.wait()
        token = lock.acquire(key, 5)
        if token is not None:
            wins.append(token)

    threads = [threading.Thread(target=contend) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(wins) == 1


def test_debouncer_merges_until_cleared(backend: str | None) -> None:
    _, deb = locks.build(backend)
    key = f"test-deb-{time.monotonic_ns()}"
    claims = [deb.claim(key, 5) for _ in range(100)]
    assert claims.count(True) == 1
    deb.clear(key)  # the reconcile started: the next change schedules a new one
    assert deb.claim(key, 5) is True


def test_rate_limiter_paces_to_the_quota(backend: str | None) -> None:
    limiter = ratelimit.build(backend)
    bucket = ratelimit.Bucket(f"test-q-{time.monotonic_ns()}", per_minute=600, burst=5)  # ~9.9/s after burst
    granted = 0
    deadline = time.monotonic() + 1.0
    while time.monotonic() < deadline:
        if limiter.try_acquire(bucket) == 0:
            granted += 1
        else:
            time.sleep(0.01)
    # burst (5) + about one second at (600-5)/60 per second; never more than the quota allows
    assert 5 + 7 <= granted <= 5 + 12


def test_every_bucket_of_a_call_is_taken_at_once_or_none_is(backend: str | None) -> None:
    """One round trip per call: a slot in the user's and the project's bucket together; when one bucket
    must wait, the other keeps its slot and the wait names the bucket that imposes it."""
    limiter = ratelimit.build(backend)
    assert isinstance(limiter, ratelimit.MemoryRateLimiter | ratelimit.RedisRateLimiter)
    tag = time.monotonic_ns()
    slow = ratelimit.Bucket(f"test-user-{tag}", per_minute=2, burst=1)  # one slot, then one per 60 s
    roomy = ratelimit.Bucket(f"test-project-{tag}", per_minute=600, burst=3)
    assert limiter.try_acquire_all((slow, roomy)) == (0.0, None)
    wait, worst = limiter.try_acquire_all((slow, roomy))
    assert worst == slow and 50 < wait <= 60
    # the refused call took nothing from the project bucket: its burst of 3 has 2 slots left (1 used above)
    assert [limiter.try_acquire(roomy) for _ in range(2)] == [0.0, 0.0]
    assert limiter.try_acquire(roomy) > 0
    with pytest.raises(ratelimit.Throttled) as err:
        ratelimit.acquire(limiter, (roomy, slow), sleep=lambda _s: None)
    assert slow.key in str(err.value)


def test_acquire_sleeps_short_waits_and_throttles_long_ones() -> None:
    limiter = ratelimit.MemoryRateLimiter()
    bucket = ratelimit.Bucket("test-slow", per_minute=2, burst=1)  # one slot every 60 s
    slept: list[float] = []
    ratelimit.acquire(limiter, (bucket,), sleep=slept.append)
    assert slept == []
    with pytest.raises(ratelimit.Throttled) as err:
        ratelimit.acquire(limiter, (bucket,), sleep=slept.append)
    assert err.value.delay is not None and err.value.delay > 50


def test_calls_refused_together_are_told_to_come_back_one_slot_apart(backend: str | None) -> None:
    """A backlog refused at once (a drift pass's repairs, say) is deferred in turns: each refused call's delay
    is one slot after the previous one's, so they come back one per slot instead of all together."""
    limiter = ratelimit.build(backend)
    tag = time.monotonic_ns()
    share = ratelimit.Bucket(f"test-background-{tag}", per_minute=300, burst=1)  # one slot per ~0.2 s
    user = ratelimit.Bucket(f"test-user-{tag}", per_minute=600)
    ratelimit.acquire(limiter, (share, user), max_inline_wait_s=0.0)  # the one slot there is now
    delays: list[float] = []
    for _ in range(6):
        with pytest.raises(ratelimit.Throttled) as err:
            ratelimit.acquire(limiter, (share, user), max_inline_wait_s=0.0)
        assert err.value.delay is not None
        delays.append(err.value.delay)
    # the first comes back when the next slot frees up, each later one a slot after the one before
    assert 0 < delays[0] <= share.interval + 0.01
    steps = [later - earlier for earlier, later in itertools.pairwise(delays)]
    assert all(share.interval - 0.02 <= step <= share.interval + 0.02 for step in steps), steps
    # the turns are taken where the wait comes from, not from a bucket that had room
    roomy = ratelimit.Bucket(f"test-roomy-{tag}", per_minute=600)
    with pytest.raises(ratelimit.Throttled) as err:
        ratelimit.acquire(limiter, (roomy, share), max_inline_wait_s=0.0)
    assert err.value.delay is not None and err.value.delay > delays[-1]


def test_a_lease_outlives_its_ttl_while_held_and_frees_the_key_on_exit(backend: str | None) -> None:
    lock, _ = locks.build(backend)
    key = f"test-lease-{time.monotonic_ns()}"
    with locks.held(lock, key, 0.3) as lease:
        assert lease is not None
        time.sleep(1.0)  # more than three TTLs: renewed meanwhile
        assert lock.acquire(key, 5) is None, "the key expired under a running holder"
        assert lease.renewals >= 2 and not lease.lost
    token = lock.acquire(key, 5)
    assert token is not None, "the lease was not released"
    lock.release(key, token)


def test_a_busy_key_yields_no_lease_and_a_lost_one_is_reported(backend: str | None) -> None:
    lock, _ = locks.build(backend)
    key = f"test-lease-{time.monotonic_ns()}"
    other = lock.acquire(key, 5)
    assert other is not None
    with locks.held(lock, key, 5, wait_s=0.2) as lease:
        assert lease is None
    lock.release(key, other)
    with locks.held(lock, key, 0.3) as lease:
        assert lease is not None
        lock.release(key, lease.token)  # the key vanishes (expired, or a Redis restart lost it)
        intruder = lock.acquire(key, 5)
        time.sleep(0.4)
        assert lease.lost
        assert lock.renew(key, lease.token, 5) is False  # never extends someone else's key
    assert intruder is not None and lock.acquire(key, 5) is None  # the intruder keeps its key
    lock.release(key, intruder)


def test_memory_debouncer_takes_over_only_a_stale_marker() -> None:
    from engine.runtime.locks import MemoryDebouncer

    deb = MemoryDebouncer()
    assert deb.claim("s", 60) is True
    assert deb.claim("s", 60, stale_after_s=30) is False  # fresh: a reconcile is scheduled
    time.sleep(0.02)
    assert deb.claim("s", 60, stale_after_s=0.01) is True  # older than 10 ms: taken over
    assert deb.claim("s", 60) is False


def test_a_lease_taken_clearing_a_marker_clears_it_even_when_the_key_is_busy(backend: str | None) -> None:
    """The reconcile actor clears the "scheduled" marker and takes the session's lock in one round trip;
    the marker is cleared whether or not the lock is free (the message that found it busy re-sends)."""
    lock, debouncer = locks.build(backend)
    key = f"test-clear-{time.monotonic_ns()}"
    assert debouncer.claim(key, 30)
    with locks.held(lock, key, 5, clearing=debouncer) as lease:
        assert lease is not None
        assert debouncer.claim(key, 30)  # cleared: a new change schedules a new reconcile
        with locks.held(lock, key, 5, clearing=debouncer) as busy:
            assert busy is None
        assert debouncer.claim(key, 30)  # cleared by the busy attempt too
    assert lock.acquire(key, 5) is not None  # released on exit


def test_the_renewer_is_woken_only_by_a_lease_due_before_the_ones_it_waits_for(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Each reconcile takes a lease: one due after those already held (the sweep's, all of one TTL) must not wake
    the renewer thread, which waits for an earlier one; one due sooner must, or it would expire unrenewed."""
    lock, _ = locks.build(None)
    renewer = locks._Renewer()
    wakes: list[int] = []
    notify = renewer._cond.notify
    monkeypatch.setattr(renewer._cond, "notify", lambda n=1: (wakes.append(n), notify(n)))
    held = [locks.Lease(f"test-renewer-{i}", "t", ttl) for i, ttl in enumerate((30.0, 60.0, 60.0, 0.3))]
    try:
        for lease in held[:3]:
            renewer.add(lock, lease)
        assert len(wakes) == 1  # the first: the thread had nothing to wait for
        renewer.add(lock, held[3])  # due in 0.1 s, before the 30 s one the thread waits for
        assert len(wakes) == 2
    finally:
        for lease in held:
            lease._stop.set()
