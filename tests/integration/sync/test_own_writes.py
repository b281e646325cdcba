"""Muster's own write is never reported as a change made in Google, even when the change feed lists it
between the write and the recording of its etag; a real change made in that window is still noted.

Where it sits: ``tests/integration/sync``; the feed stack of test_change_feed.py (SQLite, embedded worker,
the emulator). The window is made deterministic with a step hook (:mod:`engine.runtime.steps`): at
``apply.wrote`` (Google answered the write, nothing recorded yet) the hook runs one incremental sync of the
calendar, as a push notification or the timer would at that moment. See :mod:`engine.sync.own_writes`.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlmodel import Session, select

from engine.feed.sync import FeedSyncReport, sync_calendar
from engine.runtime import steps
from engine.runtime.ratelimit import Bucket
from engine.store.models import AuditEvent, FeedCalendar
from tests.integration.sync.conftest import Emu
from tests.integration.sync.test_change_feed import FeedStack, _followed, wait_for


@pytest.fixture
def stack(emu: Emu, tmp_path: Path) -> Iterator[FeedStack]:
    built = FeedStack(emu, tmp_path, MUSTER_FEED_POLL_S="600")  # no timer pass of its own during a test
    yield built
    steps.install(None)
    built.close()


def _followed_calendar(stack: FeedStack, external_id: str) -> tuple[uuid.UUID, uuid.UUID]:
    sid = stack.put(external_id)
    wait_for(lambda: stack.synced(sid), 20, "first sync")
    cal = str(stack.binding(sid).calendar_id)
    stack.clock_pass()
    wait_for(_followed(stack, cal), 10, "the calendar's first sync")
    with Session(stack.engine) as db:
        feed_id = db.exec(select(FeedCalendar.id).where(FeedCalendar.calendar_id == cal)).one()
    return sid, feed_id


def _sync_at_write(stack: FeedStack, feed_id: uuid.UUID, before: Callable[[], None] | None = None
                   ) -> list[FeedSyncReport | BaseException | None]:
    """Install a hook that, at the next write answered by Google, runs ``before`` then one feed sync."""
    seen: list[FeedSyncReport | BaseException | None] = []
    feeds = stack.embedded.runtime.feeds
    assert feeds is not None

    def hook(step: str) -> None:
        if step != "apply.wrote" or seen:
            return
        try:
            if before is not None:
                before()
            seen.append(sync_calendar(stack.engine, feeds, feed_id))
        except Exception as exc:  # shown by the test, not swallowed by the worker
            seen.append(exc)

    steps.install(hook)
    return seen


def test_a_listing_between_muster_s_write_and_its_recording_notes_nothing(stack: FeedStack) -> None:
    sid, feed_id = _followed_calendar(stack, "own-1")
    seen = _sync_at_write(stack, feed_id)
    stack.put("own-1", title="Renamed by the platform")
    wait_for(lambda: bool(seen), 20, "the write and the feed sync in its window")
    report = seen[0]
    assert isinstance(report, FeedSyncReport), report
    assert report.changes >= 1  # the listing did contain Muster's fresh write
    wait_for(lambda: stack.binding(sid).writing_since is None, 10, "the write recorded")
    steps.install(None)
    b = stack.binding(sid)
    assert stack.summary(sid) == "Renamed by the platform" and b.sync_status == "synced"
    assert report.noted == 0, "Muster's own write was noted as a change made in Google"
    assert b.remote_changed_at is None and b.remote_held_etag is None
    assert b.remote_etag is None  # never noted as seen in Google
    with Session(stack.engine) as db:
        assert not db.exec(select(AuditEvent).where(AuditEvent.action == "session.changed_in_google")).all()


def test_a_change_made_in_google_in_that_window_is_still_noted_and_handled(stack: FeedStack) -> None:
    sid, feed_id = _followed_calendar(stack, "own-2")
    seen = _sync_at_write(stack, feed_id, before=lambda: stack.edit_in_google(sid, "Renamed in Google"))
    stack.put("own-2", title="Renamed by the platform")
    wait_for(lambda: bool(seen), 20, "the write, the edit in Google and the feed sync in its window")
    report = seen[0]
    assert isinstance(report, FeedSyncReport), report
    assert report.noted == 0  # held for the recording to judge, not noted at once
    steps.install(None)

    def reported() -> bool:
        with Session(stack.engine) as db:
            return db.exec(select(AuditEvent).where(AuditEvent.action == "session.changed_in_google",
                                                   AuditEvent.session_id == sid)).first() is not None

    # the recording found an etag none of its writes produced: noted, read, and the platform's title restored
    wait_for(reported, 20, "the edit made in Google reported")
    wait_for(lambda: stack.summary(sid) == "Renamed by the platform", 20, "the platform's title restored")
    b = stack.binding(sid)
    assert b.remote_held_etag is None and b.writing_since is None


def test_a_reconcile_that_waits_for_quota_before_writing_leaves_no_mark(
    stack: FeedStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The write mark is taken just before the first write; when the quota then has no slot for a long while
    (the attempt is re-enqueued, nothing written), the mark goes with the attempt: a change made in Google
    meanwhile is noted at once instead of being held until the next attempt."""
    sid, feed_id = _followed_calendar(stack, "own-3")
    rt = stack.embedded.runtime
    limiter = rt.limiter
    take_all = limiter.try_acquire_all  # type: ignore[attr-defined]
    armed, marked_seen = threading.Event(), threading.Event()
    armed.set()

    def quota_used_up(buckets: tuple[Bucket, ...]) -> tuple[float, Bucket | None]:
        """The owner's next slot is an hour away (other work took them), once, after the test saw the mark."""
        user = [b for b in buckets if b.key.startswith("user:")]
        if armed.is_set() and user:
            armed.clear()
            marked_seen.wait(20)
            return 3600.0, user[0]
        return take_all(buckets)  # type: ignore[no-any-return]

    monkeypatch.setattr(limiter, "try_acquire_all", quota_used_up)
    stack.put("own-3", title="Renamed by the platform")
    wait_for(lambda: stack.binding(sid).writing_since is not None, 20, "the write mark taken before the write")
    marked_seen.set()
    wait_for(lambda: stack.binding(sid).writing_since is None, 10, "the mark cleared when the attempt ended")
    assert not armed.is_set()  # the attempt did wait for quota
    assert stack.summary(sid) != "Renamed by the platform"  # and wrote nothing
    stack.edit_in_google(sid, "Renamed in Google")
    feeds = rt.feeds
    assert feeds is not None
    report = sync_calendar(stack.engine, feeds, feed_id)
    assert report.noted == 1  # noted at once, not held for a recording that is an hour away
    assert stack.binding(sid).remote_held_etag is None
