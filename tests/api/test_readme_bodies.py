"""The README's request bodies are real: each one is sent literally, in order, and accepted.

Where it sits: ``tests/api``; reads README.md's "Request bodies" section (a line naming the method and
path, then a ``json`` block) and sends every body with a tenant key, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import json
import re

from tests.api.conftest import Api
from tests.conftest import REPO_ROOT

_CALL = re.compile(r"^`(PUT|PATCH|POST) (/v1/[^`]+)`\n```json\n(.*?)\n```", re.M | re.S)


def _readme_calls() -> list[tuple[str, str, object]]:
    text = (REPO_ROOT / "README.md").read_text()
    section = text.split("### Request bodies", 1)[1].split("\n## ", 1)[0].split("People are created", 1)[0]
    return [(m[0], m[1], json.loads(m[2])) for m in _CALL.findall(section)]


def test_every_readme_request_body_is_accepted(api: Api) -> None:
    calls = _readme_calls()
    assert [f"{method} {path}" for method, path, _ in calls][:2] == [
        "PUT /v1/sessions/sql-101",
        "PATCH /v1/sessions/sql-101/enrollments",
    ]
    assert len(calls) >= 7
    for method, path, body in calls:
        response = api.client.request(method, path, json=body, headers=api.auth())
        assert 200 <= response.status_code < 300, f"{method} {path}: {response.status_code} {response.text}"
    session = api.get("/v1/sessions/sql-101").json()
    assert session["url"] == "https://learn.example/sessions/sql-101" and session["status"] == "scheduled"
    learners = {e["email"]: e["status"] for e in api.get("/v1/sessions/sql-101/enrollments").json()}
    assert learners == {"mary@acme.example": "enrolled", "hedy@acme.example": "waitlisted",
                        "grace@acme.example": "enrolled"}
