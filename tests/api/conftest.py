"""Fixtures for the ingest REST API tests: the app on ``db_engine`` (SQLite and PostgreSQL), a recording
dispatcher, two tenants with keys, and a valid session body.

Where it sits: used by ``tests/api/test_*.py``. Requests go through the ASGI app (httpx ``ASGITransport``),
so routing, validation, error handlers and the unit of work are all real.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.engine import Engine

from engine.api.app import create_api
from engine.ingest.tenants import create_tenant, issue_api_key
from engine.settings import load_settings
from engine.store.unit_of_work import unit_of_work


class AsgiClient:
    """A synchronous client that sends each request through the ASGI app with ``httpx.ASGITransport``.

    ``raise_app_exceptions`` stays on: an exception escaping the app fails the test outright.
    """

    def __init__(self, app: FastAPI) -> None:
        self.app = app

    def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        async def send() -> httpx.Response:
            transport = httpx.ASGITransport(app=self.app)
            async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
                return await client.request(method, url, **kwargs)

        return asyncio.run(send())

    def get(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", url, **kwargs)

    def put(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("PUT", url, **kwargs)

    def post(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("POST", url, **kwargs)

    def patch(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("PATCH", url, **kwargs)

    def delete(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("DELETE", url, **kwargs)


@dataclass
class RecordingDispatcher:
    """Records each after-commit dispatch (one call per committed unit of work)."""

    calls: list[list[uuid.UUID]] = field(default_factory=list)

    def __call__(self, ids: list[uuid.UUID]) -> None:
        self.calls.append(list(ids))

    @property
    def ids(self) -> list[uuid.UUID]:
        return [i for call in self.calls for i in call]


@dataclass
class Api:
    client: AsgiClient
    dispatcher: RecordingDispatcher
    engine: Engine
    key_a: str
    key_b: str
    tenant_a: uuid.UUID
    tenant_b: uuid.UUID

    def auth(self, key: str | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {key or self.key_a}"}

    def put(self, path: str, body: Any = None, key: str | None = None) -> Any:
        return self.client.put(path, json=body, headers=self.auth(key))

    def get(self, path: str, key: str | None = None, **params: Any) -> Any:
        return self.client.get(path, headers=self.auth(key), params=params)


@pytest.fixture
def api(db_engine: Engine, tmp_path: Any) -> Iterator[Api]:
    settings = load_settings(
        {
            "MUSTER_DATABASE_URL": str(db_engine.url.render_as_string(hide_password=False)),
            "MUSTER_VAR_DIR": str(tmp_path),
            "MUSTER_SECRET_KEY": "k" * 40,
        }
    )
    dispatcher = RecordingDispatcher()
    with unit_of_work(db_engine) as uow:
        a = create_tenant(db=uow.db, slug="tenant-a", name="Tenant A", vendor_owners=["owner@vendor.example"])
        b = create_tenant(db=uow.db, slug="tenant-b", name="Tenant B")
        key_a = issue_api_key(db=uow.db, tenant_id=a.id)
        key_b = issue_api_key(db=uow.db, tenant_id=b.id)
        ids = a.id, b.id
    app = create_api(settings, dispatcher=dispatcher, engine=db_engine)
    yield Api(AsgiClient(app), dispatcher, db_engine, key_a, key_b, *ids)
    assert app.state.unhandled_errors == 0, "a request reached the last-resort 500 handler"


def session_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "title": "Intro to SQL",
        "description": "Live session.",
        "timeZone": "Europe/Berlin",
        "start": "2026-11-30T10:00:00+01:00",
        "end": "2026-11-30T11:00:00+01:00",
        "organizer": "Ada@Acme.example",
        "coHosts": ["linus@acme.example"],
        "capacity": 8,
        "video": "manual",
        "manualJoinLink": "https://zoom.example/j/1",
        "enrollments": [
            {"email": "l1@acme.example", "status": "enrolled"},
            {"email": "L2@acme.example", "status": "enrolled"},
            {"email": "l3@acme.example", "status": "waitlisted"},
        ],
    }
    body.update(overrides)
    return body
