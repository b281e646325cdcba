"""Table tests of the change feed's pure decisions (:mod:`engine.feed.plan`)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from connectors.ports.feed import Change, ChangeBatch
from engine.domain.event_ids import marker
from engine.feed.plan import BindingView, Noted, changed_bindings, channel_action, push_verdict

T, S1, S2, S3 = (uuid.UUID(int=i) for i in range(4))
B1 = BindingView(uuid.UUID(int=11), S1, "ev1", '"e1"')
B2 = BindingView(uuid.UUID(int=12), S2, "ev2", '"e2"', remote_etag='"seen2"')
NOW = datetime(2027, 1, 4, 9, tzinfo=UTC)


def batch(*changes: Change, full: bool = False) -> ChangeBatch:
    return ChangeBatch(tuple(changes), "tok", 1, full)


def test_changes_map_to_bindings_and_own_writes_are_skipped() -> None:
    edited = Change("ev1", "confirmed", '"e1b"')
    own = Change("ev2", "confirmed", '"e2"')  # what Muster wrote last
    repeat = Change("ev2", "confirmed", '"seen2"')  # already noted
    stranger = Change("evX", "confirmed", '"x"')  # not Muster's
    assert changed_bindings(batch(edited, own, repeat, stranger), [B1, B2]) == [Noted(B1.id, edited, '"e1b"')]


def test_instances_map_to_their_series_and_tombstones_count() -> None:
    instance = Change("ev1_20270105T090000Z", "cancelled", '"i"', series_id="ev1")
    gone = Change("ev2", "cancelled", None)
    assert changed_bindings(batch(instance, gone), [B1, B2]) == [Noted(B1.id, None, '"i"'), Noted(B2.id, gone, None)]


def test_a_marked_event_found_elsewhere_maps_by_its_session() -> None:
    moved_here = Change("evZ", "confirmed", '"z"', private=dict(marker(T, S3, "h")))
    b3 = BindingView(uuid.UUID(int=13), S3, "evOld", '"old"')
    assert changed_bindings(batch(moved_here), [B1], {S3: b3}) == [Noted(b3.id, None, '"z"')]


def test_a_full_listing_notes_written_events_that_are_absent() -> None:
    never_written = BindingView(uuid.UUID(int=14), S3, "ev3", None)
    listed = Change("ev1", "confirmed", '"e1"')
    assert changed_bindings(batch(listed, full=True), [B1, B2, never_written]) == [Noted(B2.id, None)]
    assert changed_bindings(batch(listed), [B1, B2]) == []  # incremental: absence means "unchanged"


H = timedelta(hours=1)


@pytest.mark.parametrize(
    ("active", "push", "channel", "expires", "want"),
    [
        (True, True, None, None, "watch"),
        (True, True, "c", NOW + 100 * H, "keep"),
        (True, True, "c", NOW + H, "renew"),
        (True, True, "c", NOW - H, "watch"),  # expired: open a new one
        (False, True, "c", NOW + 100 * H, "stop"),
        (True, False, "c", NOW + 100 * H, "stop"),  # push turned off
        (False, False, None, None, "keep"),
    ],
)
def test_channel_action(active: bool, push: bool, channel: str | None, expires: datetime | None, want: str) -> None:
    got = channel_action(active=active, push=push, channel_id=channel, expires_at=expires, now=NOW,
                         renew_before=2 * H)
    assert got == want


@pytest.mark.parametrize(
    ("state", "channel", "token_ok", "known", "active", "want"),
    [
        ("exists", "c1", True, "c1", True, "sync"),
        ("not_exists", "c1", True, "c1", True, "sync"),
        ("sync", "c1", True, None, True, "ignore"),  # first message before the watch answer was stored
        ("exists", "c0", True, "c1", True, "stop"),  # replaced by a renewal
        ("exists", "c1", True, "c1", False, "stop"),  # calendar no longer followed
        ("exists", "c1", False, "c1", True, "forged"),
        (None, "c1", True, "c1", True, "bad"),
        ("exists", None, True, "c1", True, "bad"),
    ],
)
def test_push_verdict(state: str | None, channel: str | None, token_ok: bool, known: str | None, active: bool,
                      want: str) -> None:
    got = push_verdict(state=state, channel_id=channel, token_ok=token_ok, known_channel_id=known, active=active)
    assert got == want
