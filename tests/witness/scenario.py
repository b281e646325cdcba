"""Second witness: two Google Calendar clients nobody here wrote, gcsa and gcalcli, drive the emulator.

Where it sits: run by ``tests/witness/test_third_party_clients.py`` with the witness virtualenv's Python
(``.venv-witness``, pins in ``tests/witness/requirements.txt``), never with Muster's: it imports only the
two clients and the Google libraries they bring, so their pins never touch Muster's. Usage:

    .venv-witness/bin/python tests/witness/scenario.py CONFIG.json

CONFIG holds the emulator's URL, an OAuth client and a refresh token for one user (made by the test
through the control API), a guest and a config folder. Each step prints one JSON line
``{"step": ..., "ok": ..., "detail": ...}``; the exit status is 0 only when every step passed.

How the clients are pointed at the emulator (the least invasive way each offers):

* gcsa: ``GoogleCalendar(credentials=...)`` (its credentials hook; no browser flow), then its
  ``service`` attribute is replaced by a service built with ``client_options={"api_endpoint": URL}``;
* gcalcli: its real command line (``gcalcli.cli.main``, one child process per command, output read from
  its stdout) with ``--config-folder`` in a temporary folder; the class attributes
  ``GoogleCalendarInterface.credentials`` and ``.cal_service`` (which gcalcli fills lazily, and keeps
  if already set) are given the same credentials and service.

Both then talk HTTP to the emulator's token endpoint and Calendar API exactly as they would to Google.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import traceback
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from google.oauth2.credentials import Credentials
from googleapiclient.discovery import build

CAL_SCOPE = "https://www.googleapis.com/auth/calendar"
PARIS = ZoneInfo("Europe/Paris")
results: list[dict[str, Any]] = []


def step(name: str) -> Callable[[Callable[[], str]], Callable[[], str]]:
    def wrap(fn: Callable[[], str]) -> Callable[[], str]:
        try:
            detail = fn()
            results.append({"step": name, "ok": True, "detail": detail})
        except Exception as exc:  # a failing client step is reported, the next steps still run
            results.append({"step": name, "ok": False, "detail": f"{type(exc).__name__}: {exc}",
                            "trace": traceback.format_exc()[-2000:]})
        print(json.dumps(results[-1]), flush=True)
        return fn

    return wrap


def check(condition: bool, message: str) -> None:
    if not condition:
        raise AssertionError(message)


def main(config_path: str) -> int:
    cfg = json.loads(Path(config_path).read_text(encoding="utf-8"))
    creds, service = _client(cfg)
    run_gcsa(creds, service, cfg["user"], cfg["guest"])
    run_gcalcli(config_path, cfg["user"], cfg["guest"], cfg["config_folder"])
    return 0 if all(r["ok"] for r in results) else 1


def _client(cfg: dict[str, Any]) -> tuple[Credentials, Any]:
    """OAuth user credentials against the emulator's token endpoint, and a Calendar service whose
    ``api_endpoint`` is the emulator (the bundled discovery document otherwise unchanged)."""
    url = cfg["url"]
    creds = Credentials(None, refresh_token=cfg["refresh_token"], client_id=cfg["client_id"],
                        client_secret=cfg["client_secret"], token_uri=url + "token", scopes=[CAL_SCOPE])
    service = build("calendar", "v3", credentials=creds, static_discovery=True,
                    client_options={"api_endpoint": url + "calendar/v3/"})
    return creds, service


def run_gcsa(creds: Credentials, service: Any, user: str, guest: str) -> None:
    from gcsa.attendee import Attendee
    from gcsa.conference import ConferenceSolutionCreateRequest, SolutionType
    from gcsa.event import Event
    from gcsa.google_calendar import GoogleCalendar
    from gcsa.recurrence import WEEKLY, Recurrence

    gc = GoogleCalendar(credentials=creds)
    gc.service = service
    made: dict[str, Any] = {}

    @step("gcsa.settings")
    def _settings() -> str:
        settings = gc.get_settings()
        check(settings.timezone == "Europe/Paris", f"timezone {settings.timezone}")
        check(settings.week_start in (0, "0"), f"week_start {settings.week_start!r}")
        return f"timezone={settings.timezone} locale={settings.locale}"

    @step("gcsa.colors")
    def _colors() -> str:
        colors = gc.list_event_colors()
        check(len(colors) == 11, f"{len(colors)} event colours")
        return f"{len(colors)} event colours, {len(gc.list_calendar_colors())} calendar colours"

    @step("gcsa.insert_with_attendee_and_meet")
    def _insert() -> str:
        event = Event("Kick-off", start=datetime(2027, 3, 10, 10, 0, tzinfo=PARIS),
                      end=datetime(2027, 3, 10, 11, 0, tzinfo=PARIS), timezone="Europe/Paris",
                      attendees=[Attendee(guest)], location="Room 1",
                      conference_solution=ConferenceSolutionCreateRequest(solution_type=SolutionType.HANGOUTS_MEET))
        event = gc.add_event(event, send_updates="all")
        made["kickoff"] = event
        check(event.id is not None and [a.email for a in event.attendees] == [guest], "attendee kept")
        again = gc.get_event(event.id)
        solution = again.conference_solution
        check(solution is not None, "no conference on the event")
        entry_points = getattr(solution, "entry_points", None) or []
        check(len(entry_points) >= 1, "the Meet request was not answered with entry points")
        status = getattr(getattr(solution, "status", None), "status_code", None) or getattr(solution, "status", None)
        return f"id={event.id} conference={type(solution).__name__} status={status} entry_points={len(entry_points)}"

    @step("gcsa.list_across_pages")
    def _list() -> str:
        for day in range(1, 13):
            gc.add_event(Event(f"Filler {day}", start=datetime(2027, 4, day, 9, 0, tzinfo=PARIS),
                               end=datetime(2027, 4, day, 9, 30, tzinfo=PARIS), timezone="Europe/Paris"))
        april = {"time_min": datetime(2027, 4, 1, tzinfo=PARIS), "time_max": datetime(2027, 5, 1, tzinfo=PARIS)}
        seen = list(gc.get_events(**april, single_events=True, order_by="startTime"))
        check([e.summary for e in seen] == [f"Filler {d}" for d in range(1, 13)], f"{[e.summary for e in seen]}")
        return f"{len(seen)} events in order"

    @step("gcsa.update")
    def _update() -> str:
        event = gc.get_event(made["kickoff"].id)
        event.summary = "Kick-off (moved)"
        event.start = datetime(2027, 3, 10, 14, 0, tzinfo=PARIS)
        event.end = datetime(2027, 3, 10, 15, 0, tzinfo=PARIS)
        updated = gc.update_event(event)
        check(updated.summary == "Kick-off (moved)", updated.summary)
        check(updated.start.astimezone(PARIS).hour == 14, f"start {updated.start}")
        return f"start={updated.start.isoformat()}"

    @step("gcsa.recurring_instances_across_dst")
    def _recurring() -> str:
        series = gc.add_event(Event("Weekly", start=datetime(2027, 3, 22, 10, 0, tzinfo=PARIS),
                                    end=datetime(2027, 3, 22, 11, 0, tzinfo=PARIS), timezone="Europe/Paris",
                                    recurrence=[Recurrence.rule(freq=WEEKLY, count=3)]))
        instances = list(gc.get_instances(series, timezone="Europe/Paris"))
        local = [i.start.astimezone(PARIS) for i in instances]
        offsets = [i.start.utcoffset() for i in instances]
        check([d.hour for d in local] == [10, 10, 10], f"local hours {local}")
        check(offsets[0] != offsets[-1], f"offsets {offsets}")  # Paris goes to summer time on 28 March
        return f"{[i.start.isoformat() for i in instances]}"

    @step("gcsa.free_busy")
    def _free_busy() -> str:
        fb = gc.get_free_busy(resource_ids=[user], time_min=datetime(2027, 3, 10, 0, 0, tzinfo=PARIS),
                              time_max=datetime(2027, 3, 11, 0, 0, tzinfo=PARIS))
        busy = list(fb.calendars[user])
        check(len(busy) == 1, f"busy {busy}")
        check(busy[0].start.astimezone(PARIS).hour == 14, f"busy {busy}")
        return f"busy={[(b.start.isoformat(), b.end.isoformat()) for b in busy]}"

    @step("gcsa.quick_add")
    def _quick() -> str:
        event = gc.add_quick_event("Lunch with Ada at Cafe Bleu 2027-03-11 12:00-13:00")
        check(event.summary == "Lunch with Ada" and event.location == "Cafe Bleu", f"{event.summary}/{event.location}")
        check(event.start.astimezone(PARIS).hour == 12, f"start {event.start}")
        return f"{event.summary} @ {event.location} {event.start.isoformat()}"

    @step("gcsa.delete")
    def _delete() -> str:
        gc.delete_event(made["kickoff"])
        remaining = [e.id for e in gc.get_events(time_min=datetime(2027, 3, 10, tzinfo=PARIS),
                                                  time_max=datetime(2027, 3, 11, tzinfo=PARIS))]
        check(made["kickoff"].id not in remaining, f"still listed: {remaining}")
        return "deleted"


def _gcalcli(argv: list[str], config_path: str, config_folder: str) -> str:
    """Run one gcalcli command line in a child process (gcalcli prints to the ``sys.stdout`` it saw at
    import), pointed at the emulator by :func:`gcalcli_child`."""
    command = [sys.executable, __file__, "--gcalcli", config_path,
               "--config-folder", config_folder, "--nocache", "--nocolor", "--lineart", "ascii", *argv]
    env = {**os.environ, "TZ": "Europe/Paris"}  # the user runs gcalcli in Paris, like their calendar
    run = subprocess.run(command, capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL, env=env)
    if run.returncode != 0:
        raise AssertionError(f"gcalcli {' '.join(argv)} exited {run.returncode}: {(run.stdout + run.stderr)[-800:]}")
    return run.stdout


def gcalcli_child(config_path: str, argv: list[str]) -> int:
    """Child process: gcalcli's own command line, its credentials and service hooks set to the emulator."""
    from gcalcli import cli
    from gcalcli.gcal import GoogleCalendarInterface

    creds, service = _client(json.loads(Path(config_path).read_text(encoding="utf-8")))
    GoogleCalendarInterface.credentials = creds
    GoogleCalendarInterface.cal_service = service
    sys.argv = ["gcalcli", *argv]
    try:
        cli.main()
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


def run_gcalcli(config_path: str, user: str, guest: str, config_folder: str) -> None:
    cal = ["--calendar", user]

    def gcalcli(*argv: str) -> str:
        return _gcalcli(list(argv), config_path, config_folder)

    @step("gcalcli.list")
    def _list() -> str:
        out = gcalcli("list")
        check(user in out, out)
        return out.strip().splitlines()[-1]

    @step("gcalcli.add_with_attendee")
    def _add() -> str:
        out = gcalcli("add", *cal, "--title", "Planning", "--where", "Room 2", "--when", "2027-03-12 09:00",
                        "--duration", "45", "--description", "Quarterly plan", "--who", guest, "--noprompt",
                        "--details", "url")
        check("New event added" in out, out)
        return out.strip()

    @step("gcalcli.quick")
    def _quick() -> str:
        out = gcalcli("quick", *cal, "Retro 2027-03-12 16:00-17:00", "--details", "url")
        check("New event added" in out, out)
        return out.strip()

    @step("gcalcli.agenda")
    def _agenda() -> str:
        out = gcalcli("agenda", *cal, "2027-03-12", "2027-03-13", "--military")
        check("Planning" in out and "Retro" in out and " 9:00" in out and "16:00" in out, out)
        return " | ".join(line.strip() for line in out.splitlines() if line.strip())

    @step("gcalcli.search")
    def _search() -> str:
        out = gcalcli("search", *cal, "Planning", "2027-03-01", "2027-04-01")
        check("Planning" in out and "Retro" not in out, out)
        return " | ".join(line.strip() for line in out.splitlines() if line.strip())

    @step("gcalcli.delete")
    def _delete() -> str:
        gcalcli("delete", *cal, "Retro", "2027-03-01", "2027-04-01", "--iamaexpert")
        out = gcalcli("agenda", *cal, "2027-03-12", "2027-03-13")
        check("Retro" not in out and "Planning" in out, out)
        return "deleted"


if __name__ == "__main__":
    if sys.argv[1] == "--gcalcli":
        sys.exit(gcalcli_child(sys.argv[2], sys.argv[3:]))
    sys.exit(main(sys.argv[1]))
