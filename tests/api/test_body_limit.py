"""The REST API's request body limit: 413 with a JSON ``detail`` for a declared or a streamed oversized
body, nothing saved; bodies within the limit (a 200-attendee bulk enrollment, a chunked PUT) pass.

Where it sits: API tests through the ASGI app (``tests/api/conftest.py``), so the middleware order of
:func:`engine.api.app.create_api` is the one production uses.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

from engine.api.body_limit import MAX_BODY_BYTES
from tests.api.conftest import Api, session_body
from tests.api.test_sessions import row_counts


async def _chunks(data: bytes, size: int = 64 * 1024) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


def _oversized_session() -> bytes:
    body = json.dumps(session_body(description="x" * (MAX_BODY_BYTES + 10))).encode()
    assert len(body) > MAX_BODY_BYTES
    return body


def _assert_413(resp: object) -> None:
    import httpx

    assert isinstance(resp, httpx.Response)
    assert resp.status_code == 413, resp.text
    assert resp.headers["content-type"] == "application/json"
    detail = resp.json()["detail"]
    assert "larger than the limit of 1 MiB (1048576 bytes)" in detail and "fewer items" in detail


def test_declared_content_length_over_the_limit_is_413(api: Api) -> None:
    before = row_counts(api)
    resp = api.client.put(
        "/v1/sessions/big",
        content=_oversized_session(),
        headers={**api.auth(), "content-type": "application/json"},
    )
    assert "content-length" in {k.lower() for k in resp.request.headers}
    _assert_413(resp)
    assert row_counts(api) == before and api.dispatcher.calls == []


def test_chunked_body_over_the_limit_is_413(api: Api) -> None:
    before = row_counts(api)
    resp = api.client.put(
        "/v1/sessions/big",
        content=_chunks(_oversized_session()),
        headers={**api.auth(), "content-type": "application/json"},
    )
    assert "content-length" not in {k.lower() for k in resp.request.headers}
    assert resp.request.headers["transfer-encoding"] == "chunked"
    _assert_413(resp)
    assert row_counts(api) == before and api.dispatcher.calls == []


def test_chunked_body_within_the_limit_is_replayed_to_the_app(api: Api) -> None:
    data = json.dumps(session_body(description="y" * 8000)).encode()
    resp = api.client.put(
        "/v1/sessions/chunked-ok",
        content=_chunks(data, size=512),  # many chunks, no Content-Length
        headers={**api.auth(), "content-type": "application/json"},
    )
    assert resp.status_code == 201, resp.text
    assert api.get("/v1/sessions/chunked-ok").json()["description"] == "y" * 8000


def test_200_attendee_bulk_enrollment_fits(api: Api) -> None:
    assert api.put("/v1/sessions/sess-1", session_body(enrollments=[])).status_code == 201
    learners = [
        {"email": f"learner.with.a.long.name.{i:03d}@subdomain.acme-learning.example", "status": "enrolled"}
        for i in range(198)  # + organizer + co-host = 200 attendees
    ]
    resp = api.put("/v1/sessions/sess-1/enrollments", {"enrollments": learners})
    assert resp.status_code == 200, resp.text
    assert resp.json()["enrolledCount"] == 198
    # even the schema's largest bulk list (5000 learners) stays well inside the limit
    largest = json.dumps({"enrollments": [learners[0]] * 5000}).encode()
    assert len(largest) < MAX_BODY_BYTES / 2
