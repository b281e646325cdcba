"""Error classification at the connector, driven by the emulator's fault injection and real refusals.

Where it sits: ``tests/sync`` (shares the seeded emulator). The real google-api-python-client talks to the
emulator; each Google answer must come out as exactly one :mod:`connectors.errors` class.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from connectors.errors import AlreadyExistsError, AuthError, PermanentError, RetriableError
from connectors.google.calendar import GoogleCalendar, GoogleCalendarFactory
from connectors.google.credentials import ServiceAccountSource, token_uri_for
from connectors.ports.calendar import Actor, Attendee, EventSpec
from tests.integration.sync.conftest import OWNERS, Emu, people

OWNER = OWNERS[0]
SPEC = EventSpec(
    summary="x",
    description="",
    location=None,
    start=datetime(2027, 1, 5, 9, tzinfo=UTC),
    end=datetime(2027, 1, 5, 10, tzinfo=UTC),
    time_zone="UTC",
    attendees=(Attendee(people("l", 1)[0]),),
    private=(("musterOwner", "muster"),),
)
EVENT_PATH = "/calendar/v3/calendars/*/events"


@pytest.fixture
def google(emu: Emu) -> Iterator[GoogleCalendarFactory]:
    import json

    emu.reseed()
    source = ServiceAccountSource(json.loads(emu.key_file.read_text()), token_uri=token_uri_for(emu.url))
    yield GoogleCalendarFactory(source, root_url=emu.url, timeout_s=5)
    emu.clear_faults()
    emu.control("DELETE", "quotas")


def cal(google: GoogleCalendarFactory, who: str = OWNER) -> GoogleCalendar:
    return google(Actor("vendor", who))


def test_5xx_and_429_are_retriable(emu: Emu, google: GoogleCalendarFactory) -> None:
    emu.faults([{"method": "POST", "path": EVENT_PATH, "error_rate": 1.0, "error_status": 503, "times": 1}])
    with pytest.raises(RetriableError) as err:
        cal(google).insert(OWNER, "evtretry1", SPEC, send_updates="none")
    assert err.value.status == 503
    emu.faults([{"method": "POST", "path": EVENT_PATH, "rate_limit_rate": 1.0, "times": 1}])
    with pytest.raises(RetriableError) as err2:
        cal(google).insert(OWNER, "evtretry1", SPEC, send_updates="none")
    assert err2.value.status in (403, 429)


def test_lost_answer_is_retriable_and_a_resent_insert_meets_409(
    emu: Emu, google: GoogleCalendarFactory
) -> None:
    # A read whose answer is lost: retriable.
    emu.faults([{"method": "GET", "path": EVENT_PATH + "/*", "lost_rate": 1.0, "times": 1}])
    with pytest.raises(RetriableError):
        cal(google).get(OWNER, "evtlost01")
    # An insert applied but answered by a dropped connection: retriable (never re-sent by the transport,
    # which would repeat its e-mails); the retry meets 409, which the executor turns into adoption.
    emu.faults([{"method": "POST", "path": EVENT_PATH, "lost_rate": 1.0, "times": 1}])
    with pytest.raises(RetriableError):
        cal(google).insert(OWNER, "evtlost01", SPEC, send_updates="all")
    with pytest.raises(AlreadyExistsError):
        cal(google).insert(OWNER, "evtlost01", SPEC, send_updates="none")
    assert [e["id"] for e in emu.events(OWNER)] == ["evtlost01"]
    assert len(emu.outbox(eventId="evtlost01")) == 1  # one invitation, not two


def test_user_quota_is_retriable(emu: Emu, google: GoogleCalendarFactory) -> None:
    emu.control("PUT", "quotas", {"per_user_per_minute": 1})
    c = cal(google)
    c.get(OWNER, "nosuchevent1")
    with pytest.raises(RetriableError) as err:
        c.get(OWNER, "nosuchevent1")
    assert err.value.reason in ("userRateLimitExceeded", "rateLimitExceeded")


def test_suspended_owner_is_auth_error(emu: Emu, google: GoogleCalendarFactory) -> None:
    emu.control("POST", f"users/{OWNER}/suspend")
    with pytest.raises(AuthError) as err:
        cal(google).get(OWNER, "nosuchevent1")
    assert err.value.reason == "notACalendarUser"


def test_unknown_user_and_missing_grant_are_auth_errors(emu: Emu, google: GoogleCalendarFactory) -> None:
    with pytest.raises(AuthError) as err:
        cal(google, "nobody@muster-vendor.example").get("nobody@muster-vendor.example", "abcde")
    assert err.value.reason == "invalid_grant"
    outsider = "it-admin@acme.example"  # exists, but the grant covers acme.example for other scopes only
    emu.world.delegation_grants.clear()
    with pytest.raises(AuthError) as err2:
        cal(google, outsider).get(outsider, "abcde")
    assert err2.value.reason == "unauthorized_client"


def test_other_4xx_is_permanent_and_gone_is_not_an_error(emu: Emu, google: GoogleCalendarFactory) -> None:
    c = cal(google)
    with pytest.raises(PermanentError) as err:
        c.insert(OWNER, "Bad-ID!", SPEC, send_updates="none")
    assert err.value.status == 400 and not isinstance(err.value, AuthError)
    assert c.get(OWNER, "neverexisted1") is None
    c.insert(OWNER, "evtgone001", SPEC, send_updates="none")
    c.delete(OWNER, "evtgone001", send_updates="none")
    c.delete(OWNER, "evtgone001", send_updates="none")  # 410 deleted → already done
    tomb = c.get(OWNER, "evtgone001")
    assert tomb is not None and tomb.is_cancelled


@pytest.mark.parametrize(
    "body",
    [
        "<html><body>502 Bad Gateway</body></html>",  # not JSON at all
        '{"id": "evtgarb01", "start": ',  # truncated JSON
        "[1, 2, 3]",  # JSON, but not an event
        '{"id": "evtgarb01", "start": "tomorrow", "attendees": "everyone"}',  # an event of the wrong shape
        '{"id": "evtgarb01", "attendees": [7], "extendedProperties": {"private": [1]}}',
    ],
)
def test_garbled_answers_are_classified_retriable(emu: Emu, google: GoogleCalendarFactory, body: str) -> None:
    # The insert is applied, its answer garbled: the connector raises one class, and the retry adopts via 409.
    emu.faults([{"method": "POST", "path": EVENT_PATH, "garbled_rate": 1.0, "garbled_body": body, "times": 1}])
    with pytest.raises(RetriableError) as err:
        cal(google).insert(OWNER, "evtgarb01", SPEC, send_updates="none")
    assert err.value.reason == "badResponse" and "unreadable answer from Google" in str(err.value)
    with pytest.raises(AlreadyExistsError):
        cal(google).insert(OWNER, "evtgarb01", SPEC, send_updates="none")
    # A garbled read and a garbled list page are classified the same way.
    page = '{"items": "everyone"}' if body.startswith('{"id"') else body  # a page of the wrong shape
    emu.faults([
        {"method": "GET", "path": EVENT_PATH + "/*", "garbled_rate": 1.0, "garbled_body": body, "times": 1},
        {"method": "GET", "path": EVENT_PATH, "garbled_rate": 1.0, "garbled_body": page, "times": 1},
    ])
    with pytest.raises(RetriableError) as read_err:
        cal(google).get(OWNER, "evtgarb01")
    assert read_err.value.reason == "badResponse"
    with pytest.raises(RetriableError) as list_err:
        cal(google).list_owned(OWNER, {"musterOwner": "muster"})
    assert list_err.value.reason == "badResponse"
    emu.clear_faults()
    assert cal(google).get(OWNER, "evtgarb01") is not None  # the next clean answer reads normally
    assert [e["id"] for e in emu.events(OWNER)] == ["evtgarb01"]


def test_garbled_error_bodies_still_classify_by_status(emu: Emu, google: GoogleCalendarFactory) -> None:
    from googleapiclient.errors import HttpError
    from httplib2 import Response

    from connectors.google.classify import classify

    for content in (b"<html>oops</html>", b'{"error": {"errors": {"reason": 1}}}', b'{"error": "x"}', b"\xff\xfe"):
        assert isinstance(classify(HttpError(Response({"status": "503"}), content), "a@b.example"), RetriableError)
        assert isinstance(classify(HttpError(Response({"status": "400"}), content), "a@b.example"), PermanentError)
        assert isinstance(classify(HttpError(Response({"status": "401"}), content), "a@b.example"), AuthError)


@pytest.mark.parametrize("body", ["<html>oops</html>", "[]", '{"token_type": "Bearer"}', '{"access_token": 5}'])
def test_garbled_token_answers_are_classified(emu: Emu, google: GoogleCalendarFactory, body: str) -> None:
    emu.faults([{"method": "POST", "path": "/token", "garbled_rate": 1.0, "garbled_body": body, "times": 1}])
    # An unreadable token answer is retryable (never an auth failure that would block the identity)...
    with pytest.raises(RetriableError) as err:
        cal(google, OWNERS[1]).get(OWNERS[1], "evtnothere")
    assert err.value.reason == "badResponse" and "token endpoint" in str(err.value)
    emu.clear_faults()
    # ...and a token read from it is not kept: the next call fetches a good one.
    assert cal(google, OWNERS[1]).get(OWNERS[1], "evtnothere") is None
