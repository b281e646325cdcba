"""Calendar v3 ``acl`` resource of the emulator: share a calendar with a user (insert, get, list, delete).

Where it sits: Google-facing routes under ``/calendar/v3/calendars/{calendarId}/acl``; reads and writes
``Calendar.acl`` (e-mail → role) in ``state.World``, which :meth:`World.access_role` already honours.
Muster's organizer lifecycle uses it before ``events.move``: Google requires the mover to have writer
access to *both* calendars (reference §2.6), so the successor shares their calendar with the leaving
organizer for the move and removes the rule afterwards.

Shapes follow the discovery document: ``AclRule{kind:"calendar#aclRule", etag, id:"user:<email>",
scope{type,value}, role}``; list key ``items``. Only the calendar's owner may change its rules
(403 ``requiredAccessLevel`` otherwise); changing the owner's own rule is 403 ``cannotChangeOwnAcl``;
a change of a calendar's rules invalidates its sync tokens (410 on the next incremental list, §6.1);
only ``user`` scopes are supported (others: 400 naming ``scope.type``); an unknown rule is 404.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.routing import BaseRoute, Route

from connectors.google_emulator.calendar import sync
from connectors.google_emulator.calendar.common import endpoint, resolve_calendar
from connectors.google_emulator.errors import ApiError, bad_request, not_found, required
from connectors.google_emulator.oauth.auth import Caller
from connectors.google_emulator.paths import path_param
from connectors.google_emulator.state import Calendar, World, new_etag

ROLES = ("none", "freeBusyReader", "reader", "writer", "owner")


def rule_json(cal: Calendar, email: str, role: str) -> dict[str, Any]:
    return {"kind": "calendar#aclRule", "etag": cal.etag, "id": f"user:{email}",
            "scope": {"type": "user", "value": email}, "role": role}


def _owned(world: World, caller: Caller, request: Request) -> Calendar:
    cal = resolve_calendar(world, caller, path_param(request, "calendarId"), need="reader")
    if world.access_role(cal, caller.email) != "owner":
        raise ApiError(403, "requiredAccessLevel", "You need to have owner access to this calendar.",
                       domain="calendar")
    return cal


def _rule_email(rule_id: str) -> str:
    if not rule_id.startswith("user:") or "@" not in rule_id:
        raise not_found()
    return rule_id[5:].lower()


def routes(world: World) -> list[BaseRoute]:
    base = "/calendar/v3/calendars/{calendarId}/acl"

    async def insert(request: Request, caller: Caller, body: dict[str, Any]) -> Any:
        scope = body.get("scope")
        if not isinstance(scope, dict) or not scope.get("type"):
            raise required("scope.type")
        if scope.get("type") != "user":
            raise bad_request("Only scope.type 'user' is supported here.", location="scope.type")
        email = str(scope.get("value") or "").strip().lower()
        if "@" not in email:
            raise required("scope.value", "scope.value must be the user's email address.")
        role = body.get("role")
        if role not in ROLES:
            raise bad_request(f"Invalid value for role: {role!r}.", location="role")
        with world.lock:
            cal = _owned(world, caller, request)
            if email == cal.owner:
                raise ApiError(403, "cannotChangeOwnAcl", "Cannot change your own access level.",
                               domain="calendar")
            if cal.acl.get(email) != (None if role == "none" else role):
                sync.invalidate_sync_tokens(world, cal.id)  # "changes in related ACLs" (reference §6.1)
            if role == "none":
                cal.acl.pop(email, None)
            else:
                cal.acl[email] = str(role)
            cal.etag = new_etag(world.now())
            return rule_json(cal, email, str(role))

    async def list_rules(request: Request, caller: Caller, _: Any) -> Any:
        with world.lock:
            cal = _owned(world, caller, request)
            items = [rule_json(cal, cal.owner, "owner")]
            items += [rule_json(cal, e, r) for e, r in sorted(cal.acl.items()) if e != cal.owner]
            return {"kind": "calendar#acl", "etag": cal.etag, "items": items}

    async def get_rule(request: Request, caller: Caller, _: Any) -> Any:
        email = _rule_email(path_param(request, "ruleId"))
        with world.lock:
            cal = _owned(world, caller, request)
            role = "owner" if email == cal.owner else cal.acl.get(email)
            if not role:
                raise not_found()
            return rule_json(cal, email, role)

    async def delete_rule(request: Request, caller: Caller, _: Any) -> None:
        email = _rule_email(path_param(request, "ruleId"))
        with world.lock:
            cal = _owned(world, caller, request)
            if email == cal.owner:
                raise ApiError(403, "cannotChangeOwnAcl", "Cannot change your own access level.",
                               domain="calendar")
            if cal.acl.pop(email, None) is None:
                raise not_found()
            sync.invalidate_sync_tokens(world, cal.id)
            cal.etag = new_etag(world.now())
        return None

    return [
        Route(base, endpoint(world, "calendar.acl.insert", insert, body=True), methods=["POST"]),
        Route(base, endpoint(world, "calendar.acl.list", list_rules), methods=["GET"]),
        Route(base + "/{ruleId}", endpoint(world, "calendar.acl.get", get_rule), methods=["GET"]),
        Route(base + "/{ruleId}", endpoint(world, "calendar.acl.delete", delete_rule), methods=["DELETE"]),
    ]
