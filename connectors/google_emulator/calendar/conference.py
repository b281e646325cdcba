"""Google Meet conferenceData lifecycle of the emulated Calendar (reference §3).

Where it sits: called by ``events.py`` on writes (:func:`apply_conference`) and before every Calendar
request (:func:`resolve_due`, registered in ``common.before_hooks``). Behaviour:

* the body's ``conferenceData`` is ignored unless ``conferenceDataVersion=1``;
* a ``hangoutsMeet`` ``createRequest`` answers ``pending`` (no entry points) in the write response -
  always, the stricter of Google's two observed behaviours - and turns ``success`` (entry points,
  ``conferenceId`` ``abc-defg-hij``, signature, ``hangoutLink``) on the first request at least
  ``options.conference_delay_s`` later, or ``failure`` at ``options.conference_failure_rate``;
* a repeated ``requestId`` on the same event is a no-op; ``conferenceData: null`` removes it;
* a plain service account, or a calendar whose ``conferenceProperties`` lack the type, gets 400
  ``invalid`` "Invalid conference type value.".
"""

from __future__ import annotations

import secrets
import string
from datetime import timedelta
from typing import Any

from connectors.google_emulator.errors import bad_request
from connectors.google_emulator.oauth.auth import Caller
from connectors.google_emulator.state import MEET, Calendar, StoredEvent, World

ICON = (
    "https://fonts.gstatic.com/s/i/productlogos/meet_2020q4/v6/web-512dp/"
    "logo_meet_2020q4_color_2x_web_512dp.png"
)
_SOLUTION_TYPES = ("eventHangout", "eventNamedHangout", "hangoutsMeet", "addOn")


def invalid_type() -> Exception:
    return bad_request("Invalid conference type value.")


def _new_conference_id(world: World) -> str:
    used: set[str] = world.extra.setdefault("conference_ids", set())
    letters = string.ascii_lowercase
    while True:
        code = "-".join("".join(world.rng.choice(letters) for _ in range(n)) for n in (3, 4, 3))
        if code not in used:
            used.add(code)
            return code


def apply_conference(
    world: World,
    caller: Caller,
    cal: Calendar,
    stored: StoredEvent | None,
    new: dict[str, Any],
    body: dict[str, Any],
    *,
    version: int,
    replace: bool,
) -> None:
    """Decide ``new['conferenceData']`` from the request. Call under ``world.lock``; may raise ApiError.

    ``new`` is the event being written (already holding the old conferenceData for patch/update).
    Returns the pending state through ``new`` and ``world.extra['conference_pending']``.
    """
    old = stored.data.get("conferenceData") if stored is not None else None
    if version != 1:
        if old is not None:
            new["conferenceData"] = old
            if "hangoutLink" in stored.data:  # type: ignore[union-attr]
                new["hangoutLink"] = stored.data["hangoutLink"]  # type: ignore[union-attr]
        else:
            new.pop("conferenceData", None)
            new.pop("hangoutLink", None)
        return
    if "conferenceData" not in body:
        if replace:
            new.pop("conferenceData", None)
            new.pop("hangoutLink", None)
        return
    data = body["conferenceData"]
    if data is None:
        new.pop("conferenceData", None)
        new.pop("hangoutLink", None)
        return
    if not isinstance(data, dict):
        raise bad_request("Invalid conference data.")
    create = data.get("createRequest")
    if create:
        request_id = str(create.get("requestId") or "")
        if not request_id:
            raise bad_request("Missing conference request id.", reason="required")
        ctype = str((create.get("conferenceSolutionKey") or {}).get("type") or "")
        if ctype not in _SOLUTION_TYPES or caller.is_plain_sa or ctype not in cal.conference_types:
            raise invalid_type()
        if stored is not None and request_id in stored.request_ids:
            if old is not None:
                new["conferenceData"] = old
            return  # same requestId: ignored
        new["conferenceData"] = {
            "createRequest": {
                "requestId": request_id,
                "conferenceSolutionKey": {"type": ctype},
                "status": {"statusCode": "pending"},
            }
        }
        new.pop("hangoutLink", None)
        failed = world.rng.random() < world.options.conference_failure_rate
        pending: dict[tuple[str, str], Any] = world.extra.setdefault("conference_pending", {})
        pending[(cal.id, str(new["id"]))] = (
            world.now() + timedelta(seconds=world.options.conference_delay_s),
            "failure" if failed else "success",
            request_id,
        )
        return
    solution = data.get("conferenceSolution")
    if not isinstance(solution, dict) or not data.get("entryPoints"):
        raise bad_request("Invalid conference data.")
    new["conferenceData"] = data
    for ep in data["entryPoints"]:
        if (
            isinstance(ep, dict)
            and ep.get("entryPointType") == "video"
            and (solution.get("key") or {}).get("type") == MEET
        ):
            new["hangoutLink"] = ep.get("uri")


def _success_payload(world: World, request_id: str) -> tuple[dict[str, Any], str]:
    code = _new_conference_id(world)
    pin = "".join(world.rng.choice(string.digits) for _ in range(13))
    phone_pin = "".join(world.rng.choice(string.digits) for _ in range(9))
    link = f"https://meet.google.com/{code}"
    return {
        "createRequest": {
            "requestId": request_id,
            "conferenceSolutionKey": {"type": MEET},
            "status": {"statusCode": "success"},
        },
        "entryPoints": [
            {"entryPointType": "video", "uri": link, "label": f"meet.google.com/{code}"},
            {"entryPointType": "more", "uri": f"https://tel.meet/{code}?pin={pin}", "pin": pin},
            {
                "regionCode": "US",
                "entryPointType": "phone",
                "uri": "tel:+1-414-555-0123",
                "label": "+1 414-555-0123",
                "pin": phone_pin,
            },
        ],
        "conferenceSolution": {"key": {"type": MEET}, "name": "Google Meet", "iconUri": ICON},
        "conferenceId": code,
        "signature": "AGirE/" + secrets.token_urlsafe(18),
    }, link


def resolve_due(world: World) -> None:
    """Turn pending Meet requests whose time has come into success/failure (a write each)."""
    pending: dict[Any, Any] = world.extra.get("conference_pending") or {}
    if not pending:
        return
    changed: list[tuple[str, dict[str, Any]]] = []
    with world.lock:
        now = world.now()
        for key, (due, outcome, request_id) in list(pending.items()):
            if due > now:
                continue
            del pending[key]
            cal_id, event_id = key
            stored = world.events.get(cal_id, {}).get(event_id)
            if stored is None:
                continue
            conf = stored.data.get("conferenceData") or {}
            if (conf.get("createRequest") or {}).get("requestId") != request_id:
                continue  # superseded or removed meanwhile
            stored.request_ids.add(request_id)
            if outcome == "success":
                payload, link = _success_payload(world, request_id)
                stored.data["conferenceData"] = payload
                stored.data["hangoutLink"] = link
            else:
                stored.data["conferenceData"] = {
                    "createRequest": {
                        "requestId": request_id,
                        "conferenceSolutionKey": {"type": MEET},
                        "status": {"statusCode": "failure"},
                    }
                }
            world.record_event_write(stored)
            changed.append((cal_id, dict(stored.data)))
    for cal_id, data in changed:
        world.fire_change(cal_id, data, run_event_hooks=False)
