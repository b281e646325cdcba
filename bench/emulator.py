"""Benchmark: requests per second of the Google Workspace emulator through the real Python client.

Where it sits: ``make bench``. Starts an in-process emulator (real HTTP on 127.0.0.1) seeded with the
sample Workspace, impersonates one organizer through domain-wide delegation and times events.insert,
get, patch and list with google-api-python-client. Usage limits are lifted for the run (the default
600 requests per user per minute would otherwise be the figure measured). Prints one ``name: value``
line per figure, each the median of ``RUNS`` runs; the whole run is bounded well under a minute.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import google_auth_httplib2
import httplib2

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from connectors.google.clients import build_service, service_account_credentials  # noqa: E402
from connectors.google_emulator.seed import service_account_key  # noqa: E402
from connectors.google_emulator.server import EmulatorServer  # noqa: E402

SEED = ROOT.parent / "shared" / "data" / "acme-workspace.json"
SA = "muster-sync@muster-vendor.iam.gserviceaccount.com"
USER = "ada.torvalds0@acme.example"
RUNS = 3
OPS = 200
BUDGET_S = 45.0


def _control(url: str, method: str, path: str, body: Any) -> None:
    req = urllib.request.Request(url + path, data=json.dumps(body).encode(), method=method,
                                 headers={"content-type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as resp:
        resp.read()


def _rate(n: int, fn: Callable[[int], Any]) -> float:
    began = time.perf_counter()
    for i in range(n):
        fn(i)
    return n / (time.perf_counter() - began)


def main() -> int:
    started = time.monotonic()
    figures: dict[str, list[float]] = {"insert_rps": [], "get_rps": [], "patch_rps": [], "list_rps": []}
    with EmulatorServer(seed=SEED) as server:
        _control(server.url, "PUT", "_emulator/quotas", {
            "per_user_per_minute": None, "per_project_per_minute": None, "events_created_per_user": None})
        key = service_account_key(server.world, SA, server.url)
        assert key is not None
        creds = service_account_credentials(key, scopes=["https://www.googleapis.com/auth/calendar"],
                                            subject=USER, token_uri=server.url + "token")
        cal = build_service("calendar", "v3", root_url=server.url,
                            http=google_auth_httplib2.AuthorizedHttp(creds, http=httplib2.Http(timeout=10)))
        events = cal.events()
        events.list(calendarId="primary", maxResults=1).execute()  # token + connection warm-up
        for run in range(RUNS):
            if time.monotonic() - started > BUDGET_S:
                break
            ids: list[str] = []

            def insert(i: int, run: int = run, ids: list[str] = ids) -> None:
                body = {"summary": f"Bench {run}-{i}",
                        "start": {"dateTime": f"2027-0{1 + run % 9}-{1 + i % 28:02d}T10:00:00Z"},
                        "end": {"dateTime": f"2027-0{1 + run % 9}-{1 + i % 28:02d}T11:00:00Z"}}
                ids.append(events.insert(calendarId="primary", body=body).execute()["id"])

            figures["insert_rps"].append(_rate(OPS, insert))
            def get(i: int, ids: list[str] = ids) -> None:
                events.get(calendarId="primary", eventId=ids[i]).execute()

            def patch(i: int, ids: list[str] = ids) -> None:
                body = {"description": f"patched {i}"}
                events.patch(calendarId="primary", eventId=ids[i], body=body).execute()

            figures["get_rps"].append(_rate(OPS, get))
            figures["patch_rps"].append(_rate(OPS, patch))
            figures["list_rps"].append(_rate(max(10, OPS // 4), lambda i: events.list(
                calendarId="primary", maxResults=50).execute()))
    for name, values in figures.items():
        print(f"{name}: {statistics.median(values):.1f}")
    print(f"runs: {len(figures['insert_rps'])}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
