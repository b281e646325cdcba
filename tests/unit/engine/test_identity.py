"""Deterministic event ids, the ownership marker and the essence hash."""

from __future__ import annotations

import re
import uuid
from dataclasses import replace
from datetime import UTC, datetime

from connectors.ports.calendar import Attendee, EventSpec
from engine.domain.event_ids import essence_hash, event_id, is_owned, marker, owned_session

T, S = uuid.uuid4(), uuid.uuid4()


def test_event_id_is_base32hex_and_deterministic() -> None:
    a = event_id(T, S, "owner@vendor.example")
    assert re.fullmatch(r"[a-v0-9]{5,1024}", a)
    assert a == event_id(T, S, "Owner@Vendor.example")
    assert a != event_id(T, S, "other@vendor.example")
    assert a != event_id(T, uuid.uuid4(), "owner@vendor.example")
    assert a != event_id(uuid.uuid4(), S, "owner@vendor.example")


def test_marker_round_trip() -> None:
    props = dict(marker(T, S, "h"))
    assert is_owned(props)
    assert owned_session(props) == (T, S)
    assert (
        owned_session({"musterOwner": "someone-else", "musterSession": str(S), "musterTenant": str(T)})
        is None
    )
    assert owned_session({}) is None
    assert owned_session({**props, "musterSession": "not-a-uuid"}) is None


def test_essence_hash_ignores_marker_and_sees_owned_fields() -> None:
    s = EventSpec(
        summary="a",
        description="",
        location=None,
        start=datetime(2027, 1, 1, tzinfo=UTC),
        end=datetime(2027, 1, 1, 1, tzinfo=UTC),
        time_zone="UTC",
        attendees=(Attendee("x@y.z"),),
    )
    assert essence_hash(s) == essence_hash(replace(s, private=(("k", "v"),)))
    assert essence_hash(s) != essence_hash(replace(s, summary="b"))
    assert essence_hash(s) != essence_hash(replace(s, attendees=()))


def test_essence_hash_is_stable_across_releases() -> None:
    """Bindings store the hash of what was last written: a change of how it is computed would make every synced
    session look changed (one write each at the next sweep). The value below is the one stored today."""
    s = EventSpec(
        summary="Intro · Berlin",
        description="d",
        location=None,
        start=datetime(2027, 3, 1, 9, tzinfo=UTC),
        end=datetime(2027, 3, 1, 10, tzinfo=UTC),
        time_zone="Europe/Berlin",
        recurrence=("RRULE:FREQ=WEEKLY;COUNT=3",),
        attendees=(
            Attendee("a@acme.example", "Ada", response_status="accepted", comment="ok", additional_guests=1),
            Attendee("room@acme.example", resource=True),
        ),
        guests_can_see_other_guests=True,
        private=(("musterSession", "x"),),
    )
    assert essence_hash(s) == "3083d57c61478ebd3534b6dae8da8fcd65224ddfacbcd527b88d7b4c935feb85"
