"""Push notifications of the emulated Calendar: ``events.watch`` channels and ``channels.stop``.

Where it sits: Google-facing routes plus a ``world.after_change`` hook. Deliveries are POSTs with Google's
``X-Goog-*`` headers and NO body, sent from one background thread per world (reference §6.3): first
``sync`` with message number 1 (queued before the watch response returns), then ``exists`` after every
change to the calendar's event collection. ``expiration`` is an int64 *string*; without one,
``params.ttl`` (seconds) or ``options.channel_default_ttl_s`` sets it; it is capped at
``options.channel_max_ttl_s``. Expired or stopped channels never post again. Addresses must be
``https://`` or ``http://`` to a host in ``options.allow_http_push_hosts``. A receiver answering 500,
502, 503 or 504 gets the same message (same number) again with exponential backoff: after
``options.push_retry_base_s``, then twice that, ... at most ``options.push_max_retries`` times (push
guide: Google retries those codes with exponential backoff); any other status, or a connection error,
is final. Channel ids ≤ 64 chars and
unique; token ≤ 256 chars. Only the creating identity (or any identity of the same client for
channels made by a service account) may stop a channel; otherwise 404 - the stricter reading.
"""

from __future__ import annotations

import logging
import queue
import secrets
import threading
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any
from urllib.parse import quote, urlsplit

import httpx
from starlette.requests import Request
from starlette.routing import BaseRoute, Route

from connectors.google_emulator.calendar.common import endpoint, resolve_calendar
from connectors.google_emulator.errors import ApiError, bad_request, not_found
from connectors.google_emulator.oauth.auth import Caller
from connectors.google_emulator.paths import path_param
from connectors.google_emulator.state import Channel, World

log = logging.getLogger(__name__)
_STOP = object()
RETRY_STATUSES = (500, 502, 503, 504)


class Deliverer:
    """One daemon thread posting queued notifications in order."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.queue: queue.Queue[Any] = queue.Queue()
        self.thread = threading.Thread(target=self._run, name="emulator-push", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        with httpx.Client(timeout=self.world.options.push_timeout_s, trust_env=False) as client:
            while True:
                job = self.queue.get()
                if job is _STOP:
                    return
                channel, state, number, attempt = job
                status = self._post(client, channel, state, number)
                if status in RETRY_STATUSES and attempt < self.world.options.push_max_retries:
                    self._retry_later(channel, state, number, attempt + 1)
                self.queue.task_done()

    def _retry_later(self, ch: Channel, state: str, number: int, attempt: int) -> None:
        delay = self.world.options.push_retry_base_s * (2 ** (attempt - 1))

        def again() -> None:
            with self.world.lock:
                live = _live(self.world, ch)
            if live:
                self.queue.put((ch, state, number, attempt))

        timer = threading.Timer(delay, again)
        timer.daemon = True
        timer.start()

    def _post(self, client: httpx.Client, ch: Channel, state: str, number: int) -> int:
        headers = {
            "Content-Type": "application/json; utf-8",
            "User-Agent": "APIs-Google; (+https://developers.google.com/webmasters/APIs-Google.html)",
            "X-Goog-Channel-ID": ch.id,
            "X-Goog-Resource-ID": ch.resource_id,
            "X-Goog-Resource-URI": ch.resource_uri,
            "X-Goog-Resource-State": state,
            "X-Goog-Message-Number": str(number),
            "X-Goog-Channel-Expiration": format_datetime(
                datetime.fromtimestamp(ch.expiration_ms / 1000, UTC), usegmt=True
            ),
        }
        if ch.token is not None:
            headers["X-Goog-Channel-Token"] = ch.token
        try:
            status = client.post(ch.address, headers=headers, content=b"").status_code
        except httpx.HTTPError as exc:
            log.info("push to %s failed: %s", ch.address, exc)
            status = 0
        with self.world.lock:
            ch.delivered.append((state, number, status))
        return status

    def stop(self) -> None:
        self.queue.put(_STOP)


def _deliverer(world: World) -> Deliverer:
    with world.lock:
        d = world.extra.get("push_deliverer")
        if not isinstance(d, Deliverer) or not d.thread.is_alive():
            d = Deliverer(world)
            world.extra["push_deliverer"] = d
        return d


def _live(world: World, ch: Channel) -> bool:
    return not ch.stopped and ch.expiration_ms > int(world.now().timestamp() * 1000)


def _enqueue(world: World, ch: Channel, state: str) -> None:
    if not world.options.push_enabled:
        return
    with world.lock:
        ch.message_number += 1
        number = ch.message_number
    _deliverer(world).queue.put((ch, state, number, 0))


def on_change(world: World, calendar_id: str) -> None:
    with world.lock:
        targets = [c for c in world.channels.values() if c.calendar_id == calendar_id and _live(world, c)]
    for ch in targets:
        _enqueue(world, ch, "exists")


def install(world: World) -> None:
    if on_change not in world.after_change:
        world.after_change.append(on_change)


def shutdown(world: World) -> None:
    d = world.extra.get("push_deliverer")
    if isinstance(d, Deliverer):
        d.stop()


def _check_address(world: World, address: str) -> None:
    parts = urlsplit(address)
    if parts.scheme == "https" and parts.hostname:
        return
    if parts.scheme == "http" and parts.hostname in world.options.allow_http_push_hosts:
        return
    raise bad_request(
        f"WebHook callback must be HTTPS: {address}", reason="push.webhookUrlNotHttps", location="address"
    )


def watch(world: World, request: Request, caller: Caller, body: dict[str, Any]) -> dict[str, Any]:
    cid = str(body.get("id") or "")
    if not cid or len(cid) > 64:
        raise ApiError(
            400,
            "required" if not cid else "invalid",
            "Channel id must be 1-64 characters.",
            location="id",
            location_type="parameter",
        )
    if str(body.get("type", "")) not in ("web_hook", "webhook"):
        raise bad_request("Invalid channel type: expected web_hook.", location="type")
    address = str(body.get("address") or "")
    _check_address(world, address)
    token = body.get("token")
    if token is not None and len(str(token)) > 256:
        raise bad_request("Channel token is too long (max 256).", location="token")
    with world.lock:
        cal = resolve_calendar(world, caller, path_param(request, "calendarId"))
        if cid in world.channels:
            raise ApiError(400, "channelIdNotUnique", f"Channel id {cid} not unique", domain="push")
        now_ms = int(world.now().timestamp() * 1000)
        cap = now_ms + world.options.channel_max_ttl_s * 1000
        requested = body.get("expiration")
        ttl = (body.get("params") or {}).get("ttl") if isinstance(body.get("params"), dict) else None
        try:
            if requested is not None:
                expiration = int(requested)
            elif ttl is not None:  # params.ttl: the channel's time-to-live in seconds
                expiration = now_ms + int(ttl) * 1000
            else:
                expiration = now_ms + world.options.channel_default_ttl_s * 1000
        except (TypeError, ValueError):
            where = "expiration" if ttl is None else "params.ttl"
            raise bad_request("Invalid expiration.", location=where) from None
        expiration = min(expiration, cap)
        if expiration <= now_ms:
            raise bad_request("Channel expiration must be in the future.", location="expiration")
        ch = Channel(
            id=cid,
            resource_id=secrets.token_urlsafe(20)[:27],
            resource_uri=f"https://www.googleapis.com/calendar/v3/calendars/{quote(cal.id, safe='')}"
            "/events?alt=json",
            calendar_id=cal.id,
            address=address,
            token=None if token is None else str(token),
            expiration_ms=expiration,
            owner=caller.email,
            client_id=caller.token.client_id,
        )
        world.channels[cid] = ch
    _enqueue(world, ch, "sync")
    out: dict[str, Any] = {
        "kind": "api#channel",
        "id": ch.id,
        "resourceId": ch.resource_id,
        "resourceUri": ch.resource_uri,
        "expiration": str(ch.expiration_ms),
    }
    if ch.token is not None:
        out["token"] = ch.token
    return out


def stop(world: World, caller: Caller, body: dict[str, Any]) -> None:
    if not body.get("id") or not body.get("resourceId"):
        raise ApiError(
            400, "required", "Required: id and resourceId.", location="id", location_type="parameter"
        )
    with world.lock:
        ch = world.channels.get(str(body["id"]))
        if ch is None or ch.resource_id != body["resourceId"] or ch.stopped:
            raise not_found()
        sa_made = world.service_accounts.get(ch.owner) is not None
        if ch.owner != caller.email and not (sa_made and ch.client_id == caller.token.client_id):
            raise not_found()
        ch.stopped = True
    return None


def routes(world: World) -> list[BaseRoute]:
    async def h_watch(request: Request, caller: Caller, body: dict[str, Any]) -> Any:
        return watch(world, request, caller, body)

    async def h_stop(request: Request, caller: Caller, body: dict[str, Any]) -> None:
        return stop(world, caller, body)

    return [
        Route(
            "/calendar/v3/calendars/{calendarId}/events/watch",
            endpoint(world, "calendar.events.watch", h_watch, body=True),
            methods=["POST"],
        ),
        Route(
            "/calendar/v3/channels/stop",
            endpoint(world, "calendar.channels.stop", h_stop, body=True),
            methods=["POST"],
        ),
    ]
