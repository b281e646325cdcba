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
