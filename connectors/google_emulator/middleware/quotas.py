"""Usage limits and request counters for the emulated Google routes (ASGI middleware).

Where it sits: wraps the Google-imitating routes (inside the fault middleware). For every API request
(each batch part counts, the batch envelope and the token endpoint do not) it

* counts the request per identity and per route (read by the control API and the benchmarks);
* enforces Google's sliding one-minute quotas: per user (default 600/min) answering 403
  ``userRateLimitExceeded`` and per project (default 10000/min) answering 403 ``rateLimitExceeded``,
  both in the ``usageLimits`` domain (or 429 when configured);
* enforces a project's daily quota when ``per_project_per_day`` is set (off by default): 403
  ``dailyLimitExceeded`` "Daily Limit Exceeded" in ``usageLimits``, which no client retries (the
  quota only comes back the next day);
* enforces the Calendar *product* use limits: events created per user in a window and invitations to
  external guests per user, answering 403 ``quotaExceeded`` "Calendar usage limits exceeded." (which the
  Python client does not retry, reference §1.6).

Who is "the user": the ``quotaUser`` parameter or ``x-goog-quota-user`` header when given, else the
token's identity; a ``quotaUser`` over 40 characters is refused with 400 ``invalidParameter``, as Google
refuses it (its discovery documents allow "up to 40 characters"). For a service account with domain-wide
delegation Google charges the per-user quota to the service account itself (reference §7.4), so all
impersonated users share one 600/min bucket — the stricter reading. The product use limits are charged
to the calendar user (the impersonated user).
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields
from typing import Any
from urllib.parse import parse_qs, unquote

from connectors.google_emulator.asgi_util import (
    ASGIApp,
    Message,
    Receive,
    Scope,
    Send,
    bearer_token,
    header,
    is_google_route,
    send_error,
)
from connectors.google_emulator.state import AccessToken, World

_EVENT_CREATE = re.compile(r"^/calendar/v3/calendars/([^/]+)/events(/import|/quickAdd)?/?$")
_EVENT_MODIFY = re.compile(r"^/calendar/v3/calendars/([^/]+)/events/([^/]+)/?$")
_NOT_API = ("/token", "/batch", "/o/oauth2", "/revoke", "/discovery")


class QuotaConfigError(ValueError):
    def __init__(self, field_name: str, message: str) -> None:
        super().__init__(f"{field_name}: {message}")
        self.field = field_name


@dataclass
class QuotaConfig:
    """All limits; ``None`` disables one. Windows are in seconds."""

    per_user_per_minute: int | None = 600
    per_project_per_minute: int | None = 10_000
    per_project_per_day: int | None = None  # Google's Calendar default is 1,000,000/day; off unless set
    rate_limit_status: int = 403  # 403 (usageLimits) or 429
    events_created_per_user: int | None = 10_000
    events_created_window_s: float = 3600.0
    external_invites_per_user: int | None = 10_000
    external_invites_window_s: float = 3600.0

    def update(self, raw: Any) -> None:
        """Apply a JSON patch of limits, validating every field before changing anything."""
        if not isinstance(raw, dict):
            raise QuotaConfigError("body", "must be a JSON object of limits")
        names = {f.name for f in fields(self)}
        staged: dict[str, Any] = {}
        for key, value in raw.items():
            if key not in names:
                raise QuotaConfigError(key, f"unknown quota field; allowed: {sorted(names)}")
            if key == "rate_limit_status":
                if value not in (403, 429):
                    raise QuotaConfigError(key, "must be 403 or 429")
            elif key.endswith("_window_s"):
                if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
                    raise QuotaConfigError(key, "must be a positive number of seconds")
            elif value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
                raise QuotaConfigError(key, "must be a non-negative integer or null (no limit)")
            staged[key] = value
        for key, value in staged.items():
            setattr(self, key, value)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


class SlidingWindow:
    """Timestamps of recent hits per key; ``count`` forgets those older than the window."""

    def __init__(self) -> None:
        self._hits: dict[str, deque[tuple[float, int]]] = {}

    def count(self, key: str, now: float, window: float) -> int:
        hits = self._hits.get(key)
        if not hits:
            return 0
        while hits and hits[0][0] <= now - window:
            hits.popleft()
        return sum(n for _, n in hits)

    def add(self, key: str, now: float, n: int = 1) -> None:
        self._hits.setdefault(key, deque()).append((now, n))


@dataclass
class Principal:
    quota_user: str  # who the per-user quota is charged to
    calendar_user: str  # whose Calendar use limits apply
    project: str


class QuotaTracker:
    """Limits, windows and counters of one world (kept in ``world.extra``; a reset clears it)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.config = QuotaConfig()
        self.clock = clock
        self.lock = threading.Lock()
        self.user_window = SlidingWindow()
        self.project_window = SlidingWindow()
        self.day_window = SlidingWindow()
        self.created_window = SlidingWindow()
        self.external_window = SlidingWindow()
        self.by_identity: Counter[str] = Counter()
        self.by_route: Counter[str] = Counter()
        self.by_status: Counter[str] = Counter()
        self.rejected: Counter[str] = Counter()
        self.total = 0

    def admit(self, who: Principal | None) -> tuple[int, str, str] | None:
        """Count one API request; return (status, reason, message) when a rate quota refuses it."""
        cfg = self.config
        now = self.clock()
        with self.lock:
            self.total += 1
            self.by_identity[who.quota_user if who else "anonymous"] += 1
            if who is None:
                return None
            if cfg.per_user_per_minute is not None and (
                self.user_window.count(who.quota_user, now, 60.0) >= cfg.per_user_per_minute
            ):
                self.rejected["userRateLimitExceeded"] += 1
                reason = "userRateLimitExceeded" if cfg.rate_limit_status == 403 else "rateLimitExceeded"
                msg = "User Rate Limit Exceeded" if cfg.rate_limit_status == 403 else "Rate Limit Exceeded"
                return cfg.rate_limit_status, reason, msg
            if cfg.per_project_per_minute is not None and (
                self.project_window.count(who.project, now, 60.0) >= cfg.per_project_per_minute
            ):
                self.rejected["rateLimitExceeded"] += 1
                return cfg.rate_limit_status, "rateLimitExceeded", "Rate Limit Exceeded"
            if cfg.per_project_per_day is not None:
                if self.day_window.count(who.project, now, 86_400.0) >= cfg.per_project_per_day:
                    self.rejected["dailyLimitExceeded"] += 1
                    return 403, "dailyLimitExceeded", "Daily Limit Exceeded"
                self.day_window.add(who.project, now)
            self.user_window.add(who.quota_user, now)
            self.project_window.add(who.project, now)
            return None

    def calendar_limit_hit(self, user: str, creates: int, externals: int) -> bool:
        cfg = self.config
        now = self.clock()
        with self.lock:
            if creates and cfg.events_created_per_user is not None and (
                self.created_window.count(user, now, cfg.events_created_window_s) + creates
                > cfg.events_created_per_user
            ):
                self.rejected["quotaExceeded"] += 1
                return True
            if externals and cfg.external_invites_per_user is not None and (
                self.external_window.count(user, now, cfg.external_invites_window_s) + externals
                > cfg.external_invites_per_user
            ):
                self.rejected["quotaExceeded"] += 1
                return True
            return False

    def charge_calendar(self, user: str, creates: int, externals: int) -> None:
        now = self.clock()
        with self.lock:
            if creates:
                self.created_window.add(user, now, creates)
            if externals:
                self.external_window.add(user, now, externals)

    def record(self, route: str, status: int) -> None:
        with self.lock:
            self.by_route[route] += 1
            self.by_status[str(status)] += 1

    def counters(self) -> dict[str, Any]:
        with self.lock:
            return {
                "total": self.total,
                "by_identity": dict(self.by_identity),
                "by_route": dict(self.by_route),
                "by_status": dict(self.by_status),
                "rejected": dict(self.rejected),
            }

    def reset_limits(self) -> None:
        """Default limits and empty windows (counters are kept)."""
        with self.lock:
            self.config = QuotaConfig()
            self.user_window = SlidingWindow()
            self.project_window = SlidingWindow()
            self.created_window = SlidingWindow()
            self.external_window = SlidingWindow()

    def reset_counters(self) -> None:
        with self.lock:
            self.total = 0
            self.by_identity.clear()
            self.by_route.clear()
            self.by_status.clear()
            self.rejected.clear()


def wrap_google(world: World, app: ASGIApp) -> ASGIApp:
    """Module hook for ``app.py``: counters and usage limits around the Google routes."""
    return QuotasMiddleware(app, world)


def tracker_for(world: World) -> QuotaTracker:
    with world.lock:
        tracker = world.extra.get("quotas")
        if not isinstance(tracker, QuotaTracker):
            tracker = QuotaTracker()
            world.extra["quotas"] = tracker
        return tracker


def _project_of(world: World, tok: AccessToken) -> str:
    if tok.sa_email:
        sa = world.service_accounts.get(tok.sa_email.lower())
        if sa is not None and sa.project_id:
            return sa.project_id
        host = tok.sa_email.split("@", 1)[-1]
        return host.split(".", 1)[0]
    return f"oauth-client:{tok.client_id}"


#: Google's limit on ``quotaUser`` (discovery documents: "up to 40 characters"); longer is a 400.
QUOTA_USER_MAX = 40


def _overlong_quota_user(scope: Scope) -> str | None:
    """Google's message when the request's ``quotaUser`` (parameter or header) is over 40 characters."""
    query = parse_qs(bytes(scope.get("query_string", b"")).decode("latin-1"))
    value = (query.get("quotaUser") or [""])[0] or header(scope, "x-goog-quota-user") or ""
    if len(value) <= QUOTA_USER_MAX:
        return None
    return f"Invalid value for quotaUser: it is {len(value)} characters long; at most {QUOTA_USER_MAX} are allowed"


def principal_for(world: World, scope: Scope) -> Principal | None:
    token = bearer_token(scope)
    tok = world.identity_for_token(token) if token else None
    if tok is None:
        return None
    query = parse_qs(bytes(scope.get("query_string", b"")).decode("latin-1"))
    explicit = (query.get("quotaUser") or [""])[0] or header(scope, "x-goog-quota-user")
    if explicit:
        quota_user = explicit
    elif tok.kind == "sa_dwd" and tok.sa_email:
        quota_user = tok.sa_email.lower()
    else:
        quota_user = tok.email.lower()
    return Principal(quota_user=quota_user, calendar_user=tok.email.lower(), project=_project_of(world, tok))


def _external_count(world: World, attendees: Any, already: set[str]) -> int:
    if not isinstance(attendees, list):
        return 0
    n = 0
    for att in attendees:
        email = str(att.get("email", "")).lower() if isinstance(att, dict) else ""
        if not email or email in already or att.get("resource"):
            continue
        if not world.is_domain_email(email) and email not in world.calendars:
            n += 1
    return n


def _calendar_charges(world: World, who: Principal, method: str, path: str, body: bytes) -> tuple[int, int]:
    """(events created, new external invitations) a write would cause. Stricter reading: every new
    external attendee counts even with ``sendUpdates=none``."""
    created = _EVENT_CREATE.match(path)
    modified = _EVENT_MODIFY.match(path) if method in ("PUT", "PATCH") else None
    if not ((created and method == "POST") or modified):
        return 0, 0
    try:
        payload = json.loads(body) if body else {}
    except ValueError:
        return 0, 0
    if not isinstance(payload, dict):
        return 0, 0
    if created and method == "POST":
        if created.group(2) == "/quickAdd":
            return 1, 0
        return 1, _external_count(world, payload.get("attendees"), set())
    assert modified is not None
    cal_id = unquote(modified.group(1))
    cal_id = who.calendar_user if cal_id == "primary" else cal_id.lower()
    with world.lock:
        stored = world.events.get(cal_id, {}).get(unquote(modified.group(2)))
        attendees = (stored.data.get("attendees") or []) if stored else []
        already = {str(a.get("email", "")).lower() for a in attendees}
    return 0, _external_count(world, payload.get("attendees"), already)


async def _buffer_body(receive: Receive) -> tuple[bytes, Receive]:
    chunks: list[bytes] = []
    more = True
    while more:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(bytes(message.get("body", b"")))
        more = bool(message.get("more_body"))
    body = b"".join(chunks)
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return body, replay


class QuotasMiddleware:
    """ASGI middleware: counters, rate quotas and Calendar use limits for API routes."""

    def __init__(self, app: ASGIApp, world: World) -> None:
        self.app = app
        self.world = world

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope.get("path", "")
        if not is_google_route(scope) or path.startswith(_NOT_API):
            await self.app(scope, receive, send)
            return
        tracker = tracker_for(self.world)
        too_long = _overlong_quota_user(scope)
        if too_long is not None:
            tracker.record(f"{scope['method']} {path}", 400)
            await send_error(send, 400, "invalidParameter", too_long, "global")
            return
        who = principal_for(self.world, scope)
        refusal = tracker.admit(who)
        method: str = scope["method"]
        if refusal is not None:
            tracker.record(f"{method} {path}", refusal[0])
            await send_error(send, refusal[0], refusal[1], refusal[2], "usageLimits")
            return
        creates = externals = 0
        if who is not None and method in ("POST", "PUT", "PATCH") and path.startswith("/calendar/v3/"):
            body, receive = await _buffer_body(receive)
            creates, externals = _calendar_charges(self.world, who, method, path, body)
            if tracker.calendar_limit_hit(who.calendar_user, creates, externals):
                tracker.record(f"{method} {path}", 403)
                await send_error(send, 403, "quotaExceeded", "Calendar usage limits exceeded.", "usageLimits")
                return
        status = 0

        async def watch(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, watch)
        finally:
            route = getattr(scope.get("route"), "path", None) or path
            tracker.record(f"{method} {route}", status)
            if who is not None and 200 <= status < 300 and (creates or externals):
                tracker.charge_calendar(who.calendar_user, creates, externals)
