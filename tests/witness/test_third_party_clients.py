"""Second witness: gcsa and gcalcli, two Google Calendar clients from PyPI that nobody here wrote, drive
the emulator through their own public interfaces (``scenario.py``), in their own virtualenv.

Where it sits: ``tests/witness``, marked ``witness`` and part of ``make test`` (so CI runs it). The
virtualenv ``.venv-witness`` is built from ``tests/witness/requirements.txt`` (pinned, separate from
Muster's ``constraints.txt``) on first use and rebuilt when that file changes. Without it - no network
to PyPI - the test skips, unless ``MUSTER_REQUIRE_SERVICES=1`` (CI), where it fails. The emulator runs
in-process over real HTTP; the scenario reaches it only through its URL, an OAuth client and a refresh
token issued by the control API. ``make witness`` runs just this test.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from connectors.google_emulator.server import EmulatorServer
from connectors.google_emulator.state import EmulatorOptions

pytestmark = pytest.mark.witness

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
VENV = ROOT / ".venv-witness"
REQUIREMENTS = HERE / "requirements.txt"
USER, GUEST = "ada@witness.test", "grace@gmail.com"
CLIENT = {"client_id": "777-witness.apps.googleusercontent.com", "client_secret": "witness-secret",
          "redirect_uris": ["http://127.0.0.1:9/callback"]}
SEED: dict[str, Any] = {
    "customerDomain": "witness.test",
    "users": [{"primaryEmail": USER, "name": {"givenName": "Ada", "familyName": "Witness"},
               "timeZone": "Europe/Paris"}],
    "oauthClients": [CLIENT],
}


def _witness_python() -> Path:
    """The witness virtualenv's interpreter, (re)built when requirements.txt changed."""
    python = VENV / "bin" / "python"
    stamp = VENV / ".requirements.sha256"
    want = hashlib.sha256(REQUIREMENTS.read_bytes()).hexdigest()
    if python.exists() and stamp.exists() and stamp.read_text().strip() == want:
        return python
    try:
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(VENV)], check=True, capture_output=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", "-r", str(REQUIREMENTS)], check=True,
                       capture_output=True, timeout=600)
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
        output = getattr(exc, "stderr", b"") or b""
        message = f"could not build {VENV.name} from {REQUIREMENTS.name}: {output.decode(errors='replace')[-800:]}"
        if os.environ.get("MUSTER_REQUIRE_SERVICES") == "1":
            pytest.fail(message)
        pytest.skip(message)
    stamp.write_text(want)
    return python


def test_gcsa_and_gcalcli_scenario_against_the_emulator(tmp_path: Path) -> None:
    python = _witness_python()
    options = EmulatorOptions(conference_delay_s=0.0, room_response_delay_s=0.05)
    with EmulatorServer(seed=SEED, options=options) as server:
        server.world.options.empty_pages = True  # every list page is preceded by an empty one: paging must be followed
        issued = httpx.post(server.url + "_emulator/refresh-tokens", json={
            "user": USER, "client_id": CLIENT["client_id"],
            "scopes": ["https://www.googleapis.com/auth/calendar"]}).json()
        config = {"url": server.url, "user": USER, "guest": GUEST, "refresh_token": issued["refresh_token"],
                  "client_id": CLIENT["client_id"], "client_secret": CLIENT["client_secret"],
                  "config_folder": str(tmp_path / "gcalcli")}
        (tmp_path / "config.json").write_text(json.dumps(config))
        run = subprocess.run([str(python), str(HERE / "scenario.py"), str(tmp_path / "config.json")],
                             capture_output=True, text=True, timeout=300, cwd=tmp_path)
        steps = [json.loads(line) for line in run.stdout.splitlines() if line.startswith("{")]
        failed = [s for s in steps if not s["ok"]]
        assert not failed, json.dumps(failed, indent=1) + run.stderr[-2000:]
        print("\n".join(f"{s['step']}: {s['detail']}" for s in steps))  # shown with -s
        names = [s["step"] for s in steps]
        assert names == [
            "gcsa.settings", "gcsa.colors", "gcsa.insert_with_attendee_and_meet", "gcsa.list_across_pages",
            "gcsa.update", "gcsa.recurring_instances_across_dst", "gcsa.free_busy", "gcsa.quick_add",
            "gcsa.delete", "gcalcli.list", "gcalcli.add_with_attendee", "gcalcli.quick", "gcalcli.agenda",
            "gcalcli.search", "gcalcli.delete",
        ], run.stderr[-2000:]
        assert run.returncode == 0, run.stderr[-2000:]
        # What the clients left behind, read from the emulator's side.
        world = server.world
        with world.lock:
            events = [s.data for s in world.events[USER].values() if not s.deleted]
        planning = next(e for e in events if e.get("summary") == "Planning")
        assert planning["location"] == "Room 2" and [a["email"] for a in planning["attendees"]] == [GUEST]
        assert planning["start"]["dateTime"].startswith("2027-03-12T09:00:00+01:00")
        assert not any(e.get("summary") in ("Retro", "Kick-off (moved)") for e in events)
        assert any(m.to == GUEST and m.kind == "invitation" and m.summary == "Kick-off" for m in world.outbox)
