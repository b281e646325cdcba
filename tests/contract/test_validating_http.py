"""The schema check used by every contract test must actually catch shapes Google could not send."""

from __future__ import annotations

import json

from tests.contract.validating_http import check_batch, check_response, find_route

JSON = "application/json; charset=UTF-8"


def _check(method: str, path: str, status: int, body: object) -> list[str]:
    return check_response(method, path, status, json.dumps(body).encode(), JSON)


def test_routes_map_to_discovery_methods() -> None:
    imported = find_route("POST", "/calendar/v3/calendars/a%40b.com/events/import")
    assert imported is not None and imported.method_id == "calendar.events.import"
    moved = find_route("POST", "/calendar/v3/calendars/x/events/ev1/move")
    assert moved is not None and moved.method_id == "calendar.events.move"
    building = find_route("GET", "/admin/directory/v1/customer/my_customer/resources/buildings/B1")
    assert building is not None and building.method_id == "directory.resources.buildings.get"
    assert find_route("GET", "/_emulator/health") is None


def test_unknown_fields_wrong_types_and_int64_are_caught() -> None:
    ok = {"kind": "calendar#channel", "id": "c1", "resourceId": "r", "expiration": "1426325213000"}
    assert _check("POST", "/calendar/v3/calendars/primary/events/watch", 200, ok) == []
    as_number = {**ok, "expiration": 1426325213000}
    assert any("expiration" in p for p in _check("POST", "/calendar/v3/calendars/primary/events/watch", 200,
                                                   as_number))
    assert any("unknown field 'etag'" in p for p in _check(
        "GET", "/admin/directory/v1/customer/c/resources/calendars/1", 200, {"etag": "x"}))  # it is etags
    assert any("expected boolean" in p for p in _check(
        "GET", "/admin/directory/v1/users/u", 200, {"suspended": "false"}))


def test_error_envelopes_must_carry_reason_and_matching_code() -> None:
    good = {"error": {"code": 404, "message": "Not Found",
                      "errors": [{"domain": "global", "reason": "notFound", "message": "Not Found"}]}}
    assert _check("GET", "/calendar/v3/calendars/x/events/y", 404, good) == []
    assert _check("GET", "/calendar/v3/calendars/x/events/y", 404, {"error": "not found"})
    assert _check("GET", "/calendar/v3/calendars/x/events/y", 410, good)  # code differs from HTTP status


def test_batch_parts_need_response_content_id_and_crlf() -> None:
    request_ct = 'multipart/mixed; boundary="b"'
    request = (b"--b\nContent-Type: application/http\nContent-ID: <a + 1>\n\n"
               b"GET /calendar/v3/calendars/x HTTP/1.1\n\n--b--")
    good = (b"--r\r\nContent-Type: application/http\r\nContent-ID: <response-a + 1>\r\n\r\n"
            b"HTTP/1.1 204 No Content\r\n\r\n\r\n--r--\r\n")
    assert check_batch(request_ct, request, "multipart/mixed; boundary=r", good) == []
    missing_id = good.replace(b"Content-ID: <response-a + 1>\r\n", b"")
    assert check_batch(request_ct, request, "multipart/mixed; boundary=r", missing_id)
    lf_only = good.replace(b"HTTP/1.1 204 No Content\r\n\r\n", b"HTTP/1.1 204 No Content\n\n")
    assert check_batch(request_ct, request, "multipart/mixed; boundary=r", lf_only)
