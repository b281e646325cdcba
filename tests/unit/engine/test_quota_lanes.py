"""The background lane may use only its share of an identity's quota: the rest stays free for platform changes."""

from __future__ import annotations

from engine.runtime import ratelimit
from engine.runtime.ratelimit import Bucket, MemoryRateLimiter, Throttled, acquire


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_background_work_cannot_take_the_platforms_share() -> None:
    clock = Clock()
    limiter = MemoryRateLimiter(clock)
    user = Bucket("user:o@x", 600)
    share = Bucket("background:o@x", 300, burst=1)  # as wiring builds it: no burst of its own
    # Background work runs until its share is used up (time does not move: one burst)
    background = 0
    while True:
        try:
            acquire(limiter, (share, user), max_inline_wait_s=0.0)
        except Throttled:
            break
        background += 1
    assert background == share.burst
    # The platform still finds slots in the identity's own bucket at once
    platform = 0
    while True:
        try:
            acquire(limiter, (user,), max_inline_wait_s=0.0)
        except Throttled:
            break
        platform += 1
    assert platform >= 1
    # Over a minute the background lane gets about its share, the identity never more than its quota
    taken = {"background": 0, "platform": 0}
    for step in range(6000):
        clock.now = step * 0.01
        for lane, buckets in (("background", (share, user)), ("platform", (user,))):
            try:
                acquire(limiter, buckets, max_inline_wait_s=0.0)
                taken[lane] += 1
            except Throttled:
                pass
    assert taken["background"] <= 300
    assert taken["background"] + taken["platform"] <= 600
    assert taken["platform"] >= 600 - 300 - 10


def test_the_lane_is_a_context() -> None:
    assert not ratelimit.in_background()
    with ratelimit.background():
        assert ratelimit.in_background()
    assert not ratelimit.in_background()
