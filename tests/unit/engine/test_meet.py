"""Meet rules, pure: the requestId per attempt, the wish per video choice, what Google's answer means."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from connectors.ports.calendar import Conference, EventSpec, RemoteEvent
from engine.domain import meet

T = datetime(2027, 1, 4, 9, 0, tzinfo=UTC)


def _remote(conference: Conference, status: str | None, *, cancelled: bool = False) -> RemoteEvent:
    spec = EventSpec(
        summary="s",
        description="",
        location=None,
        start=T,
        end=T + timedelta(hours=1),
        time_zone="UTC",
        conference=conference,
    )
    return RemoteEvent(
        "org@x.example", "abc123", "cancelled" if cancelled else "confirmed", spec, conference_status=status
    )


def test_request_id_is_stable_per_attempt_and_new_per_attempt() -> None:
    assert meet.request_id("e" * 52, 1) == meet.request_id("e" * 52, 1)
    assert meet.request_id("e" * 52, 1) != meet.request_id("e" * 52, 2)
    assert len(meet.request_id("e" * 1024, 99)) <= 64


@pytest.mark.parametrize(
    ("video", "link", "expected"),
    [
        ("meet", None, "meet"),
        ("manual", "https://zoom.example/j/1", "manual"),
        ("manual", None, "none"),
        ("none", None, "none"),
    ],
)
def test_conference_wish(video: str, link: str | None, expected: str) -> None:
    wish = meet.conference_wish(video=video, manual_link=link, event_id="abc12", attempt=1)
    assert wish.kind == expected
    assert (wish.request_id is not None) == (expected == "meet")
    assert wish.link == (link if expected == "manual" else None)


@pytest.mark.parametrize(
    ("attempt", "status", "expected"),
    [(0, None, 1), (1, "pending", 1), (1, "success", 1), (1, "failure", 2), (3, "failure", 4)],
)
def test_next_attempt(attempt: int, status: str | None, expected: int) -> None:
    assert meet.next_attempt(video="meet", attempt=attempt, status=status) == expected


def test_observe_success_pending_failure() -> None:
    ok = meet.observe(
        _remote(Conference("meet", "https://meet.google.com/abc-defg-hij", "r-m1"), "success"),
        video="meet",
        polls=2,
        expected_request_id="r-m1",
    )
    assert (ok.status, ok.link, ok.error, ok.polls, ok.requeue_after) == (
        "success",
        "https://meet.google.com/abc-defg-hij",
        None,
        0,
        None,
    )
    pending = meet.observe(
        _remote(Conference("meet", None, "r-m1"), "pending"),
        video="meet",
        polls=0,
        expected_request_id="r-m1",
    )
    assert (
        pending.status == "pending" and pending.requeue_after == timedelta(seconds=1) and pending.polls == 1
    )
    stuck = meet.observe(
        _remote(Conference("meet", None, "r-m1"), "pending"),
        video="meet",
        polls=meet.MAX_POLLS,
        expected_request_id="r-m1",
    )
    assert stuck.requeue_after is None and stuck.error and "has not finished" in stuck.error
    failed = meet.observe(
        _remote(Conference("meet", None, "r-m1"), "failure"),
        video="meet",
        polls=3,
        expected_request_id="r-m1",
    )
    assert (
        failed.status == "failure" and failed.link is None and failed.error and failed.requeue_after is None
    )
    assert meet.observe(None, video="none", polls=0, expected_request_id=None).status is None
