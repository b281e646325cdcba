"""Control API of the emulator: ``/_emulator/...`` JSON endpoints for tests, demos and operators.

Where it sits: a ``control_routes`` module of ``app.py`` — never wrapped by the fault/quota middleware,
never Google-authenticated, and never shaped like a Google answer (errors are
``{"error": {"field": ..., "message": ...}}`` with HTTP 400/404), so no client can mistake it for Google.
It seeds the world (through ``seed.py``'s validated ``add_*`` functions), changes Workspace state the
way an admin would (suspend, delete, revoke tokens), tunes the emulated Google (quotas, faults, Meet and
room delays) and reads what Google would hide (any calendar's events including tombstones, the
outbox of e-mails, request counters). See ``docs/emulator.md`` for the reference with examples.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from connectors.google_emulator import seed as seeding
from connectors.google_emulator.calendar import answers, sync
from connectors.google_emulator.middleware.faults import FaultConfigError, injector_for, parse_rules
from connectors.google_emulator.middleware.quotas import QuotaConfigError, tracker_for
from connectors.google_emulator.paths import path_param
from connectors.google_emulator.state import World, rfc3339

PREFIX = "/_emulator"
Handler = Callable[[Request], Awaitable[Any]]


class ControlError(Exception):
    def __init__(self, status: int, field: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.field = field
        self.message = message


def _bad(field: str, message: str) -> ControlError:
    return ControlError(400, field, message)


def _wrap(fn: Handler) -> Callable[[Request], Awaitable[Response]]:
    async def run(request: Request) -> Response:
        try:
            result = await fn(request)
        except ControlError as exc:
            return JSONResponse({"error": {"field": exc.field, "message": exc.message}},
                                status_code=exc.status)
        except seeding.SeedError as exc:
            return JSONResponse({"error": {"field": exc.field, "message": exc.message}}, status_code=400)
        except (FaultConfigError, QuotaConfigError) as exc:
            msg = str(exc).split(": ", 1)[-1]
            return JSONResponse({"error": {"field": exc.field, "message": msg}}, status_code=400)
        if isinstance(result, Response):
            return result
        return JSONResponse(result)
    return run


async def _body(request: Request, *, required: bool = True) -> Any:
    raw = await request.body()
    if not raw.strip():
        if required:
            raise _bad("body", "a JSON body is required")
        return {}
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise _bad("body", f"not valid JSON ({exc.args[0] if exc.args else exc})") from None


def _as_list(body: Any) -> list[Any]:
    return body if isinstance(body, list) else [body]


def _user_or_404(world: World, email: str) -> Any:
    user = world.find_user(email)
    if user is None:
        raise ControlError(404, "email", f"no user {email!r} in the emulated Workspace")
    return user


def _number(body: dict[str, Any], key: str, low: float, high: float) -> float | None:
    if key not in body:
        return None
    value = body[key]
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        raise _bad(key, f"must be a number between {low} and {high}")
    return float(value)


def _event_view(stored: Any) -> dict[str, Any]:
    return {"calendarId": stored.calendar_id, "deleted": bool(stored.deleted or stored.moved_away),
            "movedAway": bool(stored.moved_away), "event": stored.data}


def control_routes(world: World) -> list[BaseRoute]:  # noqa: C901 - a flat list of small endpoints
    async def health(request: Request) -> Any:
        return {"ok": True, "modules": list(getattr(request.app.state, "modules", []))}

    async def reset(request: Request) -> Any:
        world.reset()
        return {"reset": True}

    async def load(request: Request) -> Any:
        body = await _body(request)
        seeding.load_seed(world, body)
        return {"users": len(world.users), "rooms": len(world.resources)}

    def adder(fn: Callable[[World, Any, str], Any], where: str) -> Handler:
        async def run(request: Request) -> Any:
            body = await _body(request)
            if fn is seeding.add_service_account:
                emails = [seeding.add_service_account(world, item, f"{where}[{i}]")
                          for i, item in enumerate(_as_list(body))]
                return {"added": emails}
            if fn is seeding.add_grants:
                seeding.add_grants(world, body, where)
                return {"added": len(_as_list(body))}
            result = fn(world, _as_list(body), where)
            return {"added": result if isinstance(result, list) else len(_as_list(body))}
        return run

    async def suspend(request: Request) -> Any:
        user = _user_or_404(world, path_param(request, "email"))
        body = await _body(request, required=False)
        reason = body.get("reason", "ADMIN") if isinstance(body, dict) else "ADMIN"
        if not isinstance(reason, str) or not reason:
            raise _bad("reason", "must be a non-empty string such as ADMIN")
        with world.lock:
            user.suspended = True
            user.suspensionReason = reason
        return {"email": user.email, "suspended": True, "suspensionReason": reason}

    def _room_or_404(email: str) -> str:
        room = email.lower()
        if room not in world.resources:
            raise ControlError(404, "email", f"no room {email!r}; rooms are added with POST /_emulator/rooms")
        return room

    async def room_pending(request: Request) -> Any:
        """Invitations a room has not answered (what its resource manager would see)."""
        room = _room_or_404(path_param(request, "email"))
        pending = []
        for stored, ref in world.visible_events(room):
            if ref is None or ref.removed or stored.deleted:
                continue
            for att in stored.data.get("attendees") or []:
                unanswered = att.get("responseStatus", "needsAction") == "needsAction"
                if str(att.get("email", "")).lower() == room and unanswered:
                    pending.append({"eventId": stored.id, "calendarId": stored.calendar_id,
                                    "summary": stored.data.get("summary"), "start": stored.data.get("start")})
        return {"room": room, "pending": pending}

    async def room_answer(request: Request) -> Any:
        """Answer an invitation as the room's resource manager (rooms with autoAcceptInvitations: false)."""
        room = _room_or_404(path_param(request, "email"))
        body = await _body(request)
        if not isinstance(body, dict):
            raise _bad("body", 'must be an object like {"eventId": "...", "responseStatus": "accepted"}')
        status = body.get("responseStatus")
        if status not in ("accepted", "declined", "tentative", "needsAction"):
            raise _bad("responseStatus", "must be accepted, declined, tentative or needsAction")
        comment = body.get("comment")
        if comment is not None and not isinstance(comment, str):
            raise _bad("comment", "must be a string")
        found = world.copy_source(room, str(body.get("eventId", "")))
        if found is None or found[0].removed:
            raise ControlError(404, "eventId", f"room {room} has no invitation with id {body.get('eventId')!r}")
        stored = found[1]
        world.set_attendee_response(stored.calendar_id, stored.id, room, str(status), comment)
        return {"room": room, "calendarId": stored.calendar_id, "eventId": stored.id, "responseStatus": status}

    async def guest_answer(request: Request) -> Any:
        """Answer an invitation as any guest (one with a calendar in the world or an outside address)."""
        cal_id = path_param(request, "calendarId").lower()
        event_id = path_param(request, "eventId")
        body = await _body(request)
        if not isinstance(body, dict):
            raise _bad("body", 'must be an object like {"email": "...", "responseStatus": "declined"}')
        email = str(body.get("email") or "").strip().lower()
        if "@" not in email:
            raise _bad("email", "give the guest's e-mail address")
        status = body.get("responseStatus")
        if status not in answers.RESPONSES:
            raise _bad("responseStatus", "must be accepted, declined, tentative or needsAction")
        comment = body.get("comment")
        if comment is not None and not isinstance(comment, str):
            raise _bad("comment", "must be a string")
        with world.lock:
            stored = answers.find_for_control(world, cal_id, event_id)
            if stored is None or stored.deleted:
                raise ControlError(404, "eventId", f"no live event {event_id!r} on calendar {cal_id!r}")
            guests = {str(a.get("email", "")).lower() for a in stored.data.get("attendees") or []}
            if email not in guests:
                raise ControlError(404, "email", f"{email} is not a guest of event {event_id!r}")
            answer: dict[str, Any] = {"responseStatus": status}
            if comment is not None:
                answer["comment"] = comment
            answers.apply_answer(world, stored, email, answer)
            snapshot = json.loads(json.dumps(stored.data))
        world.fire_change(stored.calendar_id, snapshot, run_event_hooks=False)
        return {"calendarId": stored.calendar_id, "eventId": stored.id, "email": email,
                "responseStatus": status, "etag": snapshot.get("etag")}

    async def invalidate_tokens(request: Request) -> Any:
        """Make the calendar's sync tokens answer 410 fullSyncRequired (as Google does on expiry)."""
        cal_id = path_param(request, "calendarId").lower()
        if world.calendar_for(cal_id) is None:
            raise ControlError(404, "calendarId", f"no calendar {cal_id!r}")
        return {"calendarId": cal_id, "generation": sync.invalidate_sync_tokens(world, cal_id)}

    def _channel_view(ch: Any) -> dict[str, Any]:
        now_ms = int(world.now().timestamp() * 1000)
        return {"id": ch.id, "resourceId": ch.resource_id, "calendarId": ch.calendar_id,
                "address": ch.address, "expiration": str(ch.expiration_ms), "owner": ch.owner,
                "stopped": ch.stopped, "expired": ch.expiration_ms <= now_ms,
                "messages": [{"state": st, "number": n, "status": code} for st, n, code in ch.delivered]}

    async def channels(request: Request) -> Any:
        cal_id = (request.query_params.get("calendarId") or "").lower()
        with world.lock:
            chans = [c for c in world.channels.values() if not cal_id or c.calendar_id == cal_id]
            return {"channels": [_channel_view(c) for c in sorted(chans, key=lambda c: c.id)]}

    async def expire_channel(request: Request) -> Any:
        """End a channel now, as its expiration would (nothing is posted to it afterwards)."""
        cid = path_param(request, "channelId")
        with world.lock:
            ch = world.channels.get(cid)
            if ch is None:
                raise ControlError(404, "channelId", f"no channel {cid!r}")
            ch.expiration_ms = min(ch.expiration_ms, int(world.now().timestamp() * 1000))
            return _channel_view(ch)

    async def unsuspend(request: Request) -> Any:
        user = _user_or_404(world, path_param(request, "email"))
        with world.lock:
            user.suspended = False
            user.suspensionReason = None
        return {"email": user.email, "suspended": False}

    async def delete_user(request: Request) -> Any:
        user = _user_or_404(world, path_param(request, "email"))
        with world.lock:
            user.deleted = True
            user.extra["deletionTime"] = rfc3339(world.now())
        revoked = world.revoke_tokens_for(user.email)
        return {"email": user.email, "deleted": True, "tokensRevoked": revoked}

    async def revoke_user_tokens(request: Request) -> Any:
        user = _user_or_404(world, path_param(request, "email"))
        return {"email": user.email, "tokensRevoked": world.revoke_tokens_for(user.email)}

    async def revoke_token(request: Request) -> Any:
        body = await _body(request)
        if not isinstance(body, dict):
            raise _bad("body", "must be an object with refresh_token or user")
        if "user" in body:
            _user_or_404(world, str(body["user"]))
            return {"tokensRevoked": world.revoke_tokens_for(str(body["user"]))}
        token = body.get("refresh_token")
        if not isinstance(token, str) or not token:
            raise _bad("refresh_token", "give the refresh token to revoke (or user to revoke all of theirs)")
        with world.lock:
            rt = world.refresh_tokens.get(token)
            if rt is None:
                raise ControlError(404, "refresh_token", "unknown refresh token")
            rt.revoked = True
            for at in world.access_tokens.values():
                if at.email == rt.user and at.client_id == rt.client_id:
                    at.revoked = True
        return {"tokensRevoked": 1}

    async def issue_refresh(request: Request) -> Any:
        body = await _body(request)
        if not isinstance(body, dict):
            raise _bad("body", "must be an object with user, client_id and scopes")
        user = _user_or_404(world, str(body.get("user", "")))
        client_id = body.get("client_id")
        if client_id not in world.oauth_clients:
            raise _bad("client_id", "unknown OAuth client; add it with POST /_emulator/oauth-clients")
        scopes = body.get("scopes")
        if not isinstance(scopes, list) or not scopes or not all(isinstance(s, str) for s in scopes):
            raise _bad("scopes", "must be a non-empty list of scope URLs")
        rt = world.issue_refresh_token(user.email, str(client_id), list(scopes))
        return {"refresh_token": rt.token, "user": user.email, "client_id": client_id}

    async def sa_key(request: Request) -> Any:
        email = path_param(request, "email")
        key = seeding.service_account_key(world, email, str(request.base_url))
        if key is None:
            raise ControlError(404, "email", f"no service account {email!r} with a key held by the emulator")
        return key

    async def quotas(request: Request) -> Any:
        tracker = tracker_for(world)
        if request.method == "PUT":
            tracker.config.update(await _body(request))
        elif request.method == "DELETE":
            tracker.reset_limits()
        return tracker.config.to_json()

    async def faults(request: Request) -> Any:
        inj = injector_for(world)
        if request.method == "PUT":
            body = await _body(request)
            if not isinstance(body, dict):
                raise _bad("body", "must be an object {seed?, rules: [...]}")
            seed = body.get("seed")
            if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
                raise _bad("seed", "must be an integer")
            inj.configure(parse_rules(body.get("rules", [])), seed)
        elif request.method == "DELETE":
            inj.configure([])
        return inj.to_json()

    async def options(request: Request) -> Any:
        opts = world.options
        if request.method == "PUT":
            body = await _body(request)
            if not isinstance(body, dict):
                raise _bad("body", "must be an object")
            known = {"conference_delay_s", "conference_failure_rate", "room_response_delay_s",
                     "transfer_delay_s", "push_retry_base_s", "push_max_retries", "empty_pages",
                     "sync_token_ttl_s"}
            for key in body:
                if key not in known:
                    raise _bad(key, f"unknown option; allowed: {sorted(known)}")
            staged = {"conference_delay_s": _number(body, "conference_delay_s", 0, 3600),
                      "conference_failure_rate": _number(body, "conference_failure_rate", 0, 1),
                      "room_response_delay_s": _number(body, "room_response_delay_s", 0, 3600)}
            for key, value in staged.items():
                if value is not None:
                    setattr(opts, key, value)
            retries = _number(body, "push_max_retries", 0, 20)
            if retries is not None:
                if retries != int(retries):
                    raise _bad("push_max_retries", "must be a whole number between 0 and 20")
                opts.push_max_retries = int(retries)
            retry_base = _number(body, "push_retry_base_s", 0, 3600)
            if retry_base is not None:
                opts.push_retry_base_s = retry_base
            if "empty_pages" in body:
                if not isinstance(body["empty_pages"], bool):
                    raise _bad("empty_pages", "must be true or false")
                opts.empty_pages = body["empty_pages"]
            token_ttl = _number(body, "sync_token_ttl_s", 0, 30 * 24 * 3600)
            if token_ttl is not None:
                opts.sync_token_ttl_s = token_ttl
            transfer = _number(body, "transfer_delay_s", 0, 3600)
            if transfer is not None:
                opts.extra["transfer_delay_s"] = transfer
        return {"conference_delay_s": opts.conference_delay_s,
                "conference_failure_rate": opts.conference_failure_rate,
                "room_response_delay_s": opts.room_response_delay_s,
                "push_retry_base_s": opts.push_retry_base_s,
                "push_max_retries": opts.push_max_retries,
                "empty_pages": opts.empty_pages,
                "sync_token_ttl_s": opts.sync_token_ttl_s,
                "transfer_delay_s": float(opts.extra.get("transfer_delay_s", 0.05))}

    async def calendar_events(request: Request) -> Any:
        cal_id = path_param(request, "calendarId").lower()
        with world.lock:
            cal = world.calendars.get(cal_id)
            if cal is None:
                raise ControlError(404, "calendarId", f"no calendar {cal_id!r}")
            own = [_event_view(s) for s in world.events.get(cal_id, {}).values()]
            copies = []
            for ref in world.copies.get(cal_id, {}).values():
                src = world.events.get(ref.source_calendar, {}).get(ref.event_id)
                if src is not None:
                    view = _event_view(src)
                    view["copyOf"] = ref.source_calendar
                    view["removed"] = ref.removed
                    copies.append(view)
        include_deleted = request.query_params.get("includeDeleted", "true").lower() != "false"
        if not include_deleted:
            own = [v for v in own if not v["deleted"] and v["event"].get("status") != "cancelled"]
            copies = [v for v in copies if not v["removed"] and v["event"].get("status") != "cancelled"]
        return {"calendarId": cal_id, "timeZone": cal.timeZone, "events": own, "attendeeCopies": copies}

    async def outbox(request: Request) -> Any:
        to = (request.query_params.get("to") or "").lower()
        event_id = request.query_params.get("eventId") or request.query_params.get("event")
        kind = request.query_params.get("kind")
        with world.lock:
            items = [m for m in world.outbox if (not to or m.to == to)
                     and (not event_id or m.event_id == event_id) and (not kind or m.kind == kind)]
            out = [{"kind": m.kind, "to": m.to, "eventId": m.event_id, "calendarId": m.calendar_id,
                    "sender": m.sender, "timestamp": rfc3339(m.timestamp), "summary": m.summary}
                   for m in items]
        return {"messages": out}

    async def counters(request: Request) -> Any:
        tracker = tracker_for(world)
        if request.method == "DELETE":
            tracker.reset_counters()
        return tracker.counters()

    async def users(request: Request) -> Any:
        with world.lock:
            people = sorted(world.users.values(), key=lambda u: u.email)
            return {"users": [{"email": u.email, "id": u.id, "isAdmin": u.isAdmin, "suspended": u.suspended,
                               "deleted": u.deleted} for u in people],
                    "rooms": [{"email": r.email, "resourceId": r.data.get("resourceId"),
                               "name": r.data.get("generatedResourceName"), "bookableBy": r.bookable_by}
                              for r in sorted(world.resources.values(), key=lambda r: r.email)]}

    async def clock(request: Request) -> Any:
        return {"now": world.now().astimezone(UTC).isoformat(), "wall": datetime.now(UTC).isoformat()}

    p = PREFIX
    return [
        Route(f"{p}/health", _wrap(health), methods=["GET"]),
        Route(f"{p}/reset", _wrap(reset), methods=["POST"]),
        Route(f"{p}/seed", _wrap(load), methods=["POST"]),
        Route(f"{p}/domains", _wrap(adder(seeding.add_domains, "domains")), methods=["POST"]),
        Route(f"{p}/users", _wrap(adder(seeding.add_users, "users")), methods=["POST"]),
        Route(f"{p}/users", _wrap(users), methods=["GET"]),
        Route(f"{p}/rooms", _wrap(adder(seeding.add_rooms, "rooms")), methods=["POST"]),
        Route(f"{p}/buildings", _wrap(adder(seeding.add_buildings, "buildings")), methods=["POST"]),
        Route(f"{p}/features", _wrap(adder(seeding.add_features, "features")), methods=["POST"]),
        Route(f"{p}/external-guests", _wrap(adder(seeding.add_external_guests, "externalGuests")),
              methods=["POST"]),
        Route(f"{p}/service-accounts", _wrap(adder(seeding.add_service_account, "serviceAccounts")),
              methods=["POST"]),
        Route(f"{p}/service-accounts/{{email}}/key", _wrap(sa_key), methods=["GET"]),
        Route(f"{p}/delegation-grants", _wrap(adder(seeding.add_grants, "domainWideDelegation")),
              methods=["POST"]),
        Route(f"{p}/oauth-clients", _wrap(adder(seeding.add_oauth_clients, "oauthClients")),
              methods=["POST"]),
        Route(f"{p}/refresh-tokens", _wrap(issue_refresh), methods=["POST"]),
        Route(f"{p}/tokens/revoke", _wrap(revoke_token), methods=["POST"]),
        Route(f"{p}/rooms/{{email}}/pending", _wrap(room_pending), methods=["GET"]),
        Route(f"{p}/rooms/{{email}}/answer", _wrap(room_answer), methods=["POST"]),
        Route(f"{p}/users/{{email}}/suspend", _wrap(suspend), methods=["POST"]),
        Route(f"{p}/users/{{email}}/unsuspend", _wrap(unsuspend), methods=["POST"]),
        Route(f"{p}/users/{{email}}/revoke-tokens", _wrap(revoke_user_tokens), methods=["POST"]),
        Route(f"{p}/users/{{email}}", _wrap(delete_user), methods=["DELETE"]),
        Route(f"{p}/quotas", _wrap(quotas), methods=["GET", "PUT", "DELETE"]),
        Route(f"{p}/faults", _wrap(faults), methods=["GET", "PUT", "DELETE"]),
        Route(f"{p}/options", _wrap(options), methods=["GET", "PUT"]),
        Route(f"{p}/calendars/{{calendarId}}/events", _wrap(calendar_events), methods=["GET"]),
        Route(f"{p}/calendars/{{calendarId}}/events/{{eventId}}/responses", _wrap(guest_answer),
              methods=["POST"]),
        Route(f"{p}/calendars/{{calendarId}}/invalidate-sync-tokens", _wrap(invalidate_tokens),
              methods=["POST"]),
        Route(f"{p}/channels", _wrap(channels), methods=["GET"]),
        Route(f"{p}/channels/{{channelId}}/expire", _wrap(expire_channel), methods=["POST"]),
        Route(f"{p}/outbox", _wrap(outbox), methods=["GET"]),
        Route(f"{p}/counters", _wrap(counters), methods=["GET", "DELETE"]),
        Route(f"{p}/clock", _wrap(clock), methods=["GET"]),
    ]
