"""The OpenAPI document is as exact as the API: schemathesis generates requests from ``/openapi.json``.

Where it sits: ``tests/api``, against the REST API app in process (ASGI, no socket), with a tenant's key,
on SQLite and PostgreSQL. Every ``/v1`` operation the platform's key may call gets generated cases
(positive mode: data the document says is valid); every answer must be a documented status with a body
matching the documented schema, no answer may be a 5xx, and most generated writes must be accepted, which
only holds when the document states the API's real rules (formats, bounds, enums, patterns).

Two things a document cannot know are set by :func:`_repair`, and nothing else is changed: ``end`` after
``start`` (at most 14 days later; said in the description, JSON Schema cannot compare two fields) and an
``externalId`` in the body equal to the one in the path (idem); and the path of operations on an existing
session names a session created before the run (a generated id names no session: 404 is the right
answer, but tells nothing about the document's request bodies). ``DELETE`` keeps its generated ids.

The admin routes (``/v1/admin/...``, with an admin's token) and the health routes (``/healthz``, ``/livez``,
``/readyz``) are fuzzed the same way by a second test, with the same checks.
"""

from __future__ import annotations

import os
from collections import Counter
from datetime import datetime, timedelta

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

from engine.admin.people import add_person, issue_admin_token
from engine.store.models import Tenant
from engine.store.unit_of_work import unit_of_work
from tests.api.conftest import Api, session_body

#: Generated cases per operation (15 /v1 operations: over 1,000 cases in all).
EXAMPLES_PER_OPERATION = int(os.environ.get("MUSTER_TEST_FUZZ_EXAMPLES", "80"))
#: Share of generated writes (PUT, PATCH, POST) that must be accepted (2xx).
MIN_ACCEPTED_WRITES = 0.6
WRITES = {"PUT", "PATCH", "POST"}


#: The session every non-DELETE operation on ``{externalId}`` works on, and its organizer.
SESSION, ORGANIZER = "s-fuzz", "ada@acme.example"


def _repair(case: schemathesis.Case) -> None:
    body = case.body
    if isinstance(body, dict) and isinstance(body.get("start"), str) and "end" in body:
        start = datetime.fromisoformat(body["start"].replace("Z", "+00:00"))
        body["end"] = (start + timedelta(hours=1)).isoformat()
    params = case.path_parameters or {}
    if case.method.upper() != "DELETE" and "external_id" in params and case.path != "/v1/sessions/{external_id}":
        params["external_id"] = SESSION
    if case.path == "/v1/people/{email}/departure" and case.method.upper() != "DELETE":
        params["email"] = ORGANIZER
    if isinstance(body, dict) and "externalId" in body and body["externalId"] is not None:
        body["externalId"] = params.get("external_id", body["externalId"])


@pytest.mark.slow
def test_generated_requests_get_documented_answers_and_most_writes_are_accepted(api: Api) -> None:
    schema = schemathesis.openapi.from_asgi("/openapi.json", api.client.app)
    operations = [
        result.ok()
        for result in schema.get_all_operations()
        if result.ok().path.startswith("/v1/") and not result.ok().path.startswith("/v1/admin/")
    ]
    assert len(operations) >= 10
    statuses: Counter[tuple[str, int]] = Counter()
    problems: list[str] = []
    headers = api.auth()
    created = api.put(f"/v1/sessions/{SESSION}", session_body(organizer=ORGANIZER, coHosts=[], enrollments=[]))
    assert created.status_code == 201, created.text

    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=EXAMPLES_PER_OPERATION,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
            derandomize=True,
        )
        def run(case: schemathesis.Case) -> None:
            _repair(case)
            response = case.call(headers=headers)
            statuses[(case.method.upper(), response.status_code)] += 1
            if response.status_code >= 500:
                problems.append(f"{case.method} {case.formatted_path}: {response.status_code} {response.text[:200]}")
            # Every check: documented status, body and headers; no 5xx. Schema-valid writes that are refused are
            # counted (the ratio below) instead of failing one by one: a few rules live only in descriptions.
            case.validate_response(response, headers=headers, excluded_checks=[positive_data_acceptance])

        run()

    total = sum(statuses.values())
    writes = sum(n for (method, _), n in statuses.items() if method in WRITES)
    accepted = sum(n for (method, code), n in statuses.items() if method in WRITES and 200 <= code < 300)
    summary = f"{total} cases, {accepted}/{writes} writes accepted, by status: {dict(statuses)}"
    print(summary)  # shown with -s: the run's figures
    assert not problems, "\n".join(problems[:10]) + f"\n{summary}"
    assert total >= 1000, summary
    assert writes and accepted / writes >= MIN_ACCEPTED_WRITES, summary


#: The admin routes and the health routes take fewer cases each (their bodies are small).
ADMIN_EXAMPLES_PER_OPERATION = int(os.environ.get("MUSTER_TEST_FUZZ_ADMIN_EXAMPLES", "40"))
ADMIN = "it-admin@a.example"


def _fuzz(api: Api, operations: list[schemathesis.APIOperation], headers: dict[str, str],
          examples: int) -> tuple[Counter[tuple[str, int]], list[str]]:
    statuses: Counter[tuple[str, int]] = Counter()
    problems: list[str] = []
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=examples, deadline=None, database=None, suppress_health_check=list(HealthCheck),
                  derandomize=True)
        def run(case: schemathesis.Case) -> None:
            response = case.call(headers=headers)
            statuses[(f"{case.method.upper()} {case.path}", response.status_code)] += 1
            if response.status_code >= 500 and response.status_code != 503:
                problems.append(f"{case.method} {case.formatted_path}: {response.status_code} {response.text[:200]}")
            case.validate_response(response, headers=headers, excluded_checks=[positive_data_acceptance])

        run()
    return statuses, problems


@pytest.mark.slow
def test_admin_and_health_routes_get_documented_answers(api: Api) -> None:
    """``/v1/admin/*`` with an admin's token, and ``/healthz``, ``/livez``, ``/readyz``: every generated case
    gets a documented status with a body matching the document, and no server error."""
    with unit_of_work(api.engine) as uow:
        tenant = uow.db.get(Tenant, api.tenant_a)
        assert tenant is not None
        add_person(db=uow.db, tenant=tenant, email=ADMIN, role="admin", actor="test")
        token = issue_admin_token(db=uow.db, tenant=tenant, email=ADMIN, actor="test")
    created = api.put(f"/v1/sessions/{SESSION}", session_body(organizer=ORGANIZER, coHosts=[], enrollments=[]))
    assert created.status_code == 201, created.text
    schema = schemathesis.openapi.from_asgi("/openapi.json", api.client.app)
    operations = [r.ok() for r in schema.get_all_operations()
                  if r.ok().path.startswith("/v1/admin/") or not r.ok().path.startswith("/v1/")]
    paths = {op.path for op in operations}
    assert {"/v1/admin/tenant", "/v1/admin/people", "/v1/admin/people/{email}", "/v1/admin/mode-switch/preview",
            "/v1/admin/mode-switch/apply", "/healthz", "/livez", "/readyz"} <= paths, paths
    statuses, problems = _fuzz(api, operations, {"Authorization": f"Bearer {token}"}, ADMIN_EXAMPLES_PER_OPERATION)
    total = sum(statuses.values())
    summary = f"{total} cases over {len(operations)} operations, by status: {dict(sorted(statuses.items()))}"
    print(summary)
    assert not problems, "\n".join(problems[:10]) + f"\n{summary}"
    assert total >= 10 * len(operations), summary
    # the generated writes reached the handlers (not all refused at the door), and the admin kept the tenant
    assert any(code == 200 for (op, code) in statuses if op.startswith("PATCH /v1/admin/tenant")), summary
    assert any(code == 200 for (op, code) in statuses if op.startswith("PUT /v1/admin/people/")), summary
    assert api.client.get("/v1/admin/tenant", headers={"Authorization": f"Bearer {token}"}).status_code == 200
