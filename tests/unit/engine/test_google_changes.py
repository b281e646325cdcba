"""Pure tests of the Google-side change rules, the event snapshot and the If-Match the planner puts on patches."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from connectors.ports.calendar import Attendee, Conference, RemoteEvent
from engine.domain import snapshot
from engine.domain.google_changes import deleted_in_google, google_edits, keep_google_edits, platform_state
from engine.domain.plan import ObservedEvent, PatchEvent, plan
from policies.google_changes import GoogleChangeSettings
from policies.notifications import NotificationPolicy
from policies.schema import SettingError
from tests.unit.engine.test_plan import ACTOR, OWNER, START, desired, spec


def remote(s: object, etag: str = '"1"', status: str = "confirmed") -> RemoteEvent:
    d = desired(s)  # type: ignore[arg-type]
    return RemoteEvent(OWNER, d.event_id, status, d.spec, etag=etag)


def test_a_snapshot_round_trips_every_field() -> None:
    s = replace(
        spec(recurrence=("RRULE:FREQ=WEEKLY;COUNT=3",), conference=Conference("meet", "https://meet/x", "r1")),
        attendees=(
            Attendee("a@x.example", "A", True, False, "accepted", "see you", 1),
            Attendee("r@res", resource=True),
        ),
    )
    r = RemoteEvent(OWNER, "e1", "confirmed", s, etag='"9"', organizer_email=OWNER, html_link="h",
                    conference_status="success", responses={"a@x.example": "accepted"})
    back = snapshot.load(snapshot.dump(r))
    assert back == r
    assert back is not None and back.spec.attendees[0].response_status == "accepted"  # not part of equality


@pytest.mark.parametrize("data", [None, {}, {"v": 99}, {"v": 1, "spec": {}}, "text", {"v": 1, "calendar_id": 3}])
def test_an_unreadable_snapshot_is_none(data: object) -> None:
    assert snapshot.load(data) is None


def test_patches_are_conditional_on_the_observed_etag() -> None:
    d = desired(spec(summary="New"))
    ops = plan([d], [ObservedEvent(ACTOR, remote(spec(), etag='"42"'))], NotificationPolicy())
    assert ops and all(isinstance(op, PatchEvent) and op.if_match == '"42"' for op in ops)


@pytest.mark.parametrize(
    ("change", "fields"),
    [
        ({}, set()),
        ({"summary": "Renamed"}, {"summary"}),
        ({"start": START + timedelta(hours=8), "end": START + timedelta(hours=9)}, {"time"}),
        ({"attendees": (Attendee("a@x.example"),)}, {"attendees"}),
        ({"location": "Elsewhere", "description": "other"}, {"location", "description"}),
    ],
)
def test_google_edits_are_what_differs_from_the_base(change: dict[str, object], fields: set[str]) -> None:
    base = remote(spec(), etag='"1"')
    now = remote(replace(spec(), **change), etag='"2"')  # type: ignore[arg-type]
    assert google_edits(base, now) == fields


def test_an_unchanged_etag_or_no_base_is_no_edit() -> None:
    base = remote(spec(), etag='"1"')
    assert google_edits(base, remote(spec(summary="x"), etag='"1"')) == frozenset()
    assert google_edits(None, remote(spec(summary="x"))) == frozenset()


def test_an_answer_is_not_an_edit() -> None:
    base = remote(spec(), etag='"1"')
    answered = replace(spec(), attendees=(Attendee("a@x.example", response_status="declined"), Attendee("b@x.example")))
    assert google_edits(base, remote(answered, etag='"2"')) == frozenset()


def test_deleted_in_google_needs_a_live_base_and_a_new_tombstone() -> None:
    live, gone = remote(spec(), etag='"1"'), remote(spec(), etag='"2"', status="cancelled")
    assert deleted_in_google(live, gone)
    assert not deleted_in_google(None, gone)
    assert not deleted_in_google(replace(live, status="cancelled"), gone)  # Muster deleted it itself
    assert not deleted_in_google(live, replace(live, etag='"3"'))


def test_report_only_keeps_googles_edits_and_writes_the_platforms() -> None:
    before = spec()
    state = platform_state(before)
    # Google moved the event and added a guest; the platform renamed it and enrolled c, unenrolled b
    google = replace(before, start=START + timedelta(hours=8), end=START + timedelta(hours=9),
                     attendees=(*before.attendees, Attendee("hand@partner.example")))
    platform = desired(spec(summary="Renamed", attendees=(Attendee("a@x.example"), Attendee("c@x.example"))))
    kept = keep_google_edits(platform, remote(google, etag='"2"'), state).spec
    assert kept.summary == "Renamed"
    assert (kept.start, kept.end) == (google.start, google.end)
    assert [a.email for a in kept.attendees] == ["a@x.example", "c@x.example", "hand@partner.example"]


def test_report_only_without_a_recorded_state_lets_the_platform_win() -> None:
    platform = desired(spec(summary="Renamed"))
    assert keep_google_edits(platform, remote(spec(summary="Google")), None) is platform


def test_the_policy_is_validated_by_the_one_schema() -> None:
    assert GoogleChangeSettings.parse(None).stored() == {"edits": "platform_wins", "deleted": "recreate"}
    assert GoogleChangeSettings.parse({"edits": "report_only", "deleted": "flag"}).edits == "report_only"
    with pytest.raises(SettingError) as bad:
        GoogleChangeSettings.parse({"edits": "google_wins"})
    assert bad.value.field == "google_changes.edits" and "platform_wins, report_only" in bad.value.message
    with pytest.raises(SettingError) as unknown:
        GoogleChangeSettings.parse({"deleted": "recreate", "moved": "x"})
    assert unknown.value.field == "google_changes.moved"
