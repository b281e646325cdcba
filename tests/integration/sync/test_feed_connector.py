"""The change-feed port against the emulator with the real Google client: pages, 410, watch and stop.

Where it sits: ``tests/integration/sync`` (shares the seeded emulator). Proves what
:class:`connectors.google.feed.GoogleChangeFeed` promises the engine: every page followed and the token
taken from the last one, a 410 classified as ``SyncTokenExpiredError`` (and for that calendar only),
bare tombstones parsed, channels opened with a lifetime and stopped (twice is fine).
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from connectors.errors import RetriableError, SyncTokenExpiredError
from connectors.google.calendar import GoogleCalendar
from connectors.google.credentials import ServiceAccountSource, token_uri_for
from connectors.google.feed import GoogleChangeFeed, GoogleChangeFeedFactory
from connectors.ports.calendar import Actor
from tests.integration.sync.conftest import OWNERS, Emu
from tests.integration.sync.test_connector_errors import SPEC

OWNER, OTHER = OWNERS[0], OWNERS[1]


@pytest.fixture
def feeds(emu: Emu) -> Iterator[GoogleChangeFeedFactory]:
    emu.reseed()
    source = ServiceAccountSource(json.loads(emu.key_file.read_text()), token_uri=token_uri_for(emu.url))
    yield GoogleChangeFeedFactory(source, root_url=emu.url, timeout_s=5)
    emu.clear_faults()
    emu.control("PUT", "options", {"empty_pages": False})


def feed(feeds: GoogleChangeFeedFactory, who: str = OWNER) -> GoogleChangeFeed:
    return feeds(Actor("vendor", who))


def test_full_then_incremental_follows_every_page(emu: Emu, feeds: GoogleChangeFeedFactory) -> None:
    port = feed(feeds)
    cal: GoogleCalendar = port
    for i in range(3):
        cal.insert(OWNER, f"evtfeed{i}0", SPEC, send_updates="none")
    emu.control("PUT", "options", {"empty_pages": True})  # an empty page with a page token before each page
    full = port.list_changes(OWNER, None)
    assert full.full and full.pages == 2
    assert {c.event_id for c in full.changes} >= {"evtfeed00", "evtfeed10", "evtfeed20"}
    mine = {c.event_id: c for c in full.changes}["evtfeed00"]
    assert mine.remote is not None and mine.private.get("musterOwner") == "muster" and mine.etag
    assert port.list_changes(OWNER, full.next_sync_token).changes == ()
    cal.patch(OWNER, "evtfeed10", SPEC, frozenset({"summary"}), send_updates="none")
    cal.delete(OWNER, "evtfeed20", send_updates="none")
    delta = port.list_changes(OWNER, full.next_sync_token)
    assert not delta.full and delta.pages == 2
    assert {(c.event_id, c.status) for c in delta.changes} == {("evtfeed10", "confirmed"),
                                                                ("evtfeed20", "cancelled")}
    assert port.list_changes(OWNER, delta.next_sync_token).changes == ()


def test_410_is_its_own_class_and_hits_one_calendar(emu: Emu, feeds: GoogleChangeFeedFactory) -> None:
    mine, other = feed(feeds), feed(feeds, OTHER)
    token = mine.list_changes(OWNER, None).next_sync_token
    other_token = other.list_changes(OTHER, None).next_sync_token
    emu.control("POST", f"calendars/{OWNER}/invalidate-sync-tokens")
    with pytest.raises(SyncTokenExpiredError) as err:
        mine.list_changes(OWNER, token)
    assert err.value.status == 410 and err.value.reason == "fullSyncRequired"
    assert other.list_changes(OTHER, other_token).changes == ()
    emu.faults([{"method": "GET", "path": "/calendar/v3/calendars/*/events", "error_rate": 1.0,
                 "error_status": 503, "times": 1}])
    with pytest.raises(RetriableError):
        other.list_changes(OTHER, other_token)


def test_moved_away_event_is_a_bare_tombstone(emu: Emu, feeds: GoogleChangeFeedFactory) -> None:
    port = feed(feeds)
    port.insert(OWNER, "evtmoved0", SPEC, send_updates="none")
    token = port.list_changes(OWNER, None).next_sync_token
    emu.world.calendar_for(OTHER).acl[OWNER] = "writer"  # type: ignore[union-attr]
    port.move(OWNER, "evtmoved0", OTHER, send_updates="none")
    (gone,) = port.list_changes(OWNER, token).changes
    assert (gone.event_id, gone.status, gone.remote) == ("evtmoved0", "cancelled", None)


def test_watch_and_stop(emu: Emu, feeds: GoogleChangeFeedFactory) -> None:
    port = feed(feeds)
    ch = port.watch(OWNER, "muster-test-ch", "https://muster.test/google/push", "tok", 3600)
    assert ch.id == "muster-test-ch" and ch.resource_id
    listed = emu.control("GET", f"channels?calendarId={OWNER}")["channels"]
    assert [(c["id"], c["stopped"]) for c in listed] == [("muster-test-ch", False)]
    expires_in = int(listed[0]["expiration"]) / 1000 - emu.world.now().timestamp()
    assert 3500 < expires_in <= 3600
    port.stop_channel(ch.id, ch.resource_id)
    port.stop_channel(ch.id, ch.resource_id)  # already stopped: 404 from Google counts as done
    assert emu.control("GET", f"channels?calendarId={OWNER}")["channels"][0]["stopped"] is True
