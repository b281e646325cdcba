"""Fixtures for the Workspace-side contract tests (Directory, Data Transfer, rooms, batch, faults ...).

Where it sits: imported by ``tests/contract/test_*.py`` of the emulator's Workspace half. Each test
module gets its own emulator seeded from ``../shared/data/acme-workspace.json`` (these tests suspend
users, inject faults and change quotas, so they do not share the session emulator), and real clients
built by ``connectors.google.clients`` whose transport is :class:`ValidatingHttp` — every response is
checked against the bundled discovery schemas.
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import google_auth_httplib2
import pytest

from connectors.google.clients import build_service, service_account_credentials
from connectors.google_emulator.seed import service_account_key
from connectors.google_emulator.server import EmulatorServer
from connectors.google_emulator.state import EmulatorOptions
from tests.contract.validating_http import ValidatingHttp

SHARED_DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
ACME = SHARED_DATA / "acme-workspace.json"
SA_EMAIL = "muster-sync@muster-vendor.iam.gserviceaccount.com"
ADMIN = "it-admin@acme.example"
CAL_SCOPE = "https://www.googleapis.com/auth/calendar"
DIR_SCOPES = ["https://www.googleapis.com/auth/admin.directory.resource.calendar.readonly",
              "https://www.googleapis.com/auth/admin.directory.user.readonly"]
TRANSFER_SCOPE = "https://www.googleapis.com/auth/admin.datatransfer"


def acme_seed() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(ACME.read_text(encoding="utf-8"))
    return data


@dataclass
class Workspace:
    """A running seeded emulator plus helpers to build real clients against it."""

    server: EmulatorServer
    seed: dict[str, Any]

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def world(self) -> Any:
        return self.server.world

    def sa_key(self) -> dict[str, Any]:
        key = service_account_key(self.world, SA_EMAIL, self.url)
        assert key is not None
        return key

    def grant(self, scopes: list[str]) -> None:
        """Widen the seeded DWD grant (the seed grants Calendar + Directory read-only)."""
        grant = self.world.grant_for(self.sa_key()["client_id"], "acme.example")
        self.world.add_delegation_grant(grant.client_id, "acme.example", sorted({*grant.scopes, *scopes}))

    def http(self, subject: str | None, scopes: list[str]) -> google_auth_httplib2.AuthorizedHttp:
        creds = service_account_credentials(self.sa_key(), scopes=scopes, subject=subject,
                                            token_uri=self.url + "token")
        return google_auth_httplib2.AuthorizedHttp(creds, http=ValidatingHttp(timeout=10))

    def service(self, api: str, version: str, subject: str | None = ADMIN,
                scopes: list[str] | None = None) -> Any:
        if scopes is None:
            scopes = {"calendar": [CAL_SCOPE], "admin": DIR_SCOPES}[api]
            if version == "datatransfer_v1":
                scopes = [TRANSFER_SCOPE]
        return build_service(api, version, root_url=self.url, http=self.http(subject, scopes))

    def calendar(self, subject: str | None = ADMIN) -> Any:
        return self.service("calendar", "v3", subject)

    def directory(self, subject: str | None = ADMIN) -> Any:
        return self.service("admin", "directory_v1", subject)

    def control(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        """Call the control API; returns (status, parsed JSON or text)."""
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.url + path.lstrip("/"), data=data, method=method,
                                     headers={"content-type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                raw = resp.read()
                status = resp.status
                ctype = resp.headers.get("content-type", "")
        except urllib.error.HTTPError as err:
            raw, status, ctype = err.read(), err.code, err.headers.get("content-type", "")
        if "json" in ctype:
            return status, json.loads(raw or b"null")
        return status, raw.decode("utf-8", "replace")


def room(seed: dict[str, Any], name: str) -> dict[str, Any]:
    return next(r for r in seed["rooms"] if r["resourceName"] == name)


@pytest.fixture(scope="module")
def workspace() -> Iterator[Workspace]:
    options = EmulatorOptions(room_response_delay_s=0.05)
    server = EmulatorServer(seed=ACME, options=options)
    with server:
        yield Workspace(server, acme_seed())


@pytest.fixture
def wait_for() -> Callable[[Callable[[], Any], float], Any]:
    """Poll ``probe`` until it returns something truthy (or fail after ``timeout`` seconds)."""
    import time

    def run(probe: Callable[[], Any], timeout: float = 3.0) -> Any:
        deadline = time.monotonic() + timeout
        while True:
            value = probe()
            if value:
                return value
            if time.monotonic() > deadline:
                raise AssertionError("condition not reached in time")
            time.sleep(0.02)

    return run
