"""Fault injection for the emulated Google routes (ASGI middleware).

Where it sits: wraps only the Google-imitating routes (API, batch parts, token endpoint), never
``/_emulator/``. Configured through the control API (``PUT /_emulator/faults``) or directly through
:func:`injector_for`. Each rule targets a method + path pattern and may add latency, answer 500/503
``backendError`` or 429 ``rateLimitExceeded`` at a given rate, or apply the request and then drop the
connection before any answer byte ("applied but lost") — the case where a client cannot know whether
its write happened — or apply it and answer 200 with a garbled body (``garbled_rate``, body
``garbled_body``: not JSON, or JSON of the wrong shape), to prove clients classify unreadable answers.

Randomness comes from a dedicated ``random.Random(seed)`` so a failing run is replayed by reusing the
seed; every injected fault is logged (sequence number, method, path, kind) for the control API.
"""

from __future__ import annotations

import asyncio
import random
import re
import threading
from dataclasses import asdict, dataclass, field
from typing import Any

from connectors.google_emulator.asgi_util import (
    ASGIApp,
    Message,
    Receive,
    Scope,
    Send,
    is_google_route,
    send_error,
)
from connectors.google_emulator.state import World

METHODS = {"*", "GET", "POST", "PUT", "PATCH", "DELETE"}


class FaultConfigError(ValueError):
    """A fault rule with a bad field; ``field`` names it."""

    def __init__(self, field_name: str, message: str) -> None:
        super().__init__(f"{field_name}: {message}")
        self.field = field_name


def compile_path(pattern: str) -> re.Pattern[str]:
    """``/calendar/v3/calendars/{calendarId}/events`` style pattern → regex.

    ``{name}`` and ``*`` match one path segment, ``**`` matches the rest of the path (any depth).
    """
    if not pattern.startswith("/"):
        raise FaultConfigError("path", "must start with '/' (for example /calendar/v3/calendars/*/events)")
    out = []
    for seg in pattern.strip("/").split("/"):
        if seg == "**":
            out.append(".*")
        elif seg == "*" or re.fullmatch(r"\{[^}]+\}", seg):
            out.append("[^/]+")
        else:
            out.append(re.escape(seg))
    return re.compile("^/" + "/".join(out) + "/?$")


@dataclass
class FaultRule:
    """One route's faults. Rates are probabilities per matching request (0..1)."""

    method: str = "*"
    path: str = "/**"
    error_rate: float = 0.0
    error_status: int = 503
    rate_limit_rate: float = 0.0
    lost_rate: float = 0.0
    latency_ms: float = 0.0
    garbled_rate: float = 0.0
    garbled_body: str = "<html><body>502 Bad Gateway</body></html>"
    times: int | None = None  # stop injecting after this many faults (None = unlimited)
    skip: int = 0  # let this many matching requests through untouched before the rule applies
    injected: int = 0
    seen: int = 0  # matching requests so far (skipped ones included)
    _regex: re.Pattern[str] = field(default=re.compile(""), repr=False)

    @classmethod
    def from_json(cls, raw: Any, where: str = "rules[0]") -> FaultRule:
        if not isinstance(raw, dict):
            raise FaultConfigError(where, "must be an object")
        known = {"method", "path", "error_rate", "error_status", "rate_limit_rate", "lost_rate",
                 "latency_ms", "times", "skip", "garbled_rate", "garbled_body"}
        for key in raw:
            if key not in known:
                raise FaultConfigError(f"{where}.{key}", f"unknown field; allowed: {sorted(known)}")
        method = str(raw.get("method", "*")).upper()
        if method not in METHODS:
            raise FaultConfigError(f"{where}.method", f"must be one of {sorted(METHODS)}")
        path = raw.get("path", "/**")
        if not isinstance(path, str):
            raise FaultConfigError(f"{where}.path", "must be a string")
        try:
            regex = compile_path(path)
        except FaultConfigError as exc:
            raise FaultConfigError(f"{where}.path", str(exc).split(": ", 1)[1]) from None
        rates = {}
        for name in ("error_rate", "rate_limit_rate", "lost_rate", "garbled_rate"):
            value = raw.get(name, 0.0)
            if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
                raise FaultConfigError(f"{where}.{name}", "must be a number between 0 and 1")
            rates[name] = float(value)
        status = raw.get("error_status", 503)
        if status not in (500, 503):
            raise FaultConfigError(f"{where}.error_status", "must be 500 or 503")
        latency = raw.get("latency_ms", 0.0)
        if isinstance(latency, bool) or not isinstance(latency, int | float) or not 0 <= latency <= 60_000:
            raise FaultConfigError(f"{where}.latency_ms", "must be a number of milliseconds, 0..60000")
        garbled = raw.get("garbled_body", cls.garbled_body)
        if not isinstance(garbled, str) or len(garbled) > 100_000:
            raise FaultConfigError(f"{where}.garbled_body", "must be a string of at most 100000 characters")
        times = raw.get("times")
        if times is not None and (isinstance(times, bool) or not isinstance(times, int) or times < 0):
            raise FaultConfigError(f"{where}.times", "must be a non-negative integer or null")
        skip = raw.get("skip", 0)
        if isinstance(skip, bool) or not isinstance(skip, int) or skip < 0:
            raise FaultConfigError(f"{where}.skip", "must be a non-negative integer")
        return cls(method=method, path=path, error_status=int(status), latency_ms=float(latency),
                   times=times, skip=skip, _regex=regex, error_rate=rates["error_rate"],
                   rate_limit_rate=rates["rate_limit_rate"], lost_rate=rates["lost_rate"],
                   garbled_rate=rates["garbled_rate"], garbled_body=garbled)

    def matches(self, method: str, path: str) -> bool:
        return (self.method in ("*", method)) and bool(self._regex.match(path))

    def exhausted(self) -> bool:
        return self.times is not None and self.injected >= self.times

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out.pop("_regex", None)
        return out


@dataclass
class Decision:
    latency_s: float = 0.0
    kind: str | None = None  # "error" | "rate_limit" | "lost" | "garbled"
    status: int = 0
    body: str = ""


class FaultInjector:
    """Rules + seeded RNG + log. One per world (kept in ``world.extra``; a reset clears it)."""

    def __init__(self, seed: int) -> None:
        self.seed = seed
        self.rng = random.Random(seed)
        self.rules: list[FaultRule] = []
        self.log: list[dict[str, Any]] = []
        self._seq = 0
        self._lock = threading.Lock()

    def configure(self, rules: list[FaultRule], seed: int | None = None) -> None:
        with self._lock:
            self.rules = rules
            if seed is not None:
                self.seed = seed
            self.rng = random.Random(self.seed)
            self.log = []
            self._seq = 0

    def decide(self, method: str, path: str) -> Decision:
        """Draw this request's fate. The RNG is consumed in request order, rule by rule."""
        with self._lock:
            self._seq += 1
            decision = Decision()
            for rule in self.rules:
                if not rule.matches(method, path):
                    continue
                rule.seen += 1
                if rule.seen <= rule.skip:
                    continue  # let through untouched (no latency, no draw from the RNG)
                decision.latency_s += rule.latency_ms / 1000
                if decision.kind is not None or rule.exhausted():
                    continue
                roll = self.rng.random()
                if roll < rule.error_rate:
                    decision.kind, decision.status = "error", rule.error_status
                elif roll < rule.error_rate + rule.rate_limit_rate:
                    decision.kind, decision.status = "rate_limit", 429
                elif roll < rule.error_rate + rule.rate_limit_rate + rule.lost_rate:
                    decision.kind = "lost"
                elif roll < rule.error_rate + rule.rate_limit_rate + rule.lost_rate + rule.garbled_rate:
                    decision.kind, decision.body = "garbled", rule.garbled_body
                if decision.kind is not None:
                    rule.injected += 1
                    self.log.append({"seq": self._seq, "method": method, "path": path,
                                     "fault": decision.kind, "status": decision.status or None})
            return decision

    def to_json(self) -> dict[str, Any]:
        with self._lock:
            return {"seed": self.seed, "rules": [r.to_json() for r in self.rules], "log": list(self.log)}


def wrap_google(world: World, app: ASGIApp) -> ASGIApp:
    """Module hook for ``app.py``: fault injection around the Google routes."""
    return FaultsMiddleware(app, world)


def injector_for(world: World) -> FaultInjector:
    with world.lock:
        inj = world.extra.get("faults")
        if not isinstance(inj, FaultInjector):
            inj = FaultInjector(world.options.seed)
            world.extra["faults"] = inj
        return inj


def parse_rules(raw: Any) -> list[FaultRule]:
    if not isinstance(raw, list):
        raise FaultConfigError("rules", "must be a list of rule objects")
    return [FaultRule.from_json(item, f"rules[{i}]") for i, item in enumerate(raw)]


async def drop_connection(receive: Receive) -> bool:
    """Close the client's TCP connection without answering. True when the server let us do it.

    The server's own ``receive`` reaches us unwrapped (Starlette wraps ``send`` only); uvicorn's is a
    bound method of the request cycle, which holds the connection's transport.
    """
    cycle = getattr(receive, "__self__", None)
    transport = getattr(cycle, "transport", None)
    if transport is None or not hasattr(transport, "close"):
        return False
    transport.close()
    for _ in range(3):  # let the server notice the disconnect so it does not try to answer 500
        await asyncio.sleep(0)
    return True


class AppliedButLost(Exception):
    """Raised when the server gives no handle on the connection; the server then aborts the answer."""


class FaultsMiddleware:
    """ASGI middleware applying the world's fault rules to Google routes."""

    def __init__(self, app: ASGIApp, world: World) -> None:
        self.app = app
        self.world = world

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # The outermost Google middleware is the whole Google stack: batch.py dispatches parts here.
        scope.setdefault("emulator.dispatch", self)
        if not is_google_route(scope):
            await self.app(scope, receive, send)
            return
        inj = injector_for(self.world)
        if not inj.rules:
            await self.app(scope, receive, send)
            return
        decision = inj.decide(scope["method"], scope["path"])
        if decision.latency_s:
            await asyncio.sleep(decision.latency_s)
        if decision.kind == "error":
            await send_error(send, decision.status, "backendError", "Backend Error")
            return
        if decision.kind == "rate_limit":
            await send_error(send, 429, "rateLimitExceeded", "Rate Limit Exceeded", "usageLimits")
            return
        if decision.kind == "lost":
            await self._applied_but_lost(scope, receive, send)
            return
        if decision.kind == "garbled":
            await self._garbled(scope, receive, send, decision.body)
            return
        await self.app(scope, receive, send)

    async def _garbled(self, scope: Scope, receive: Receive, send: Send, body: str) -> None:
        """Apply the request, then answer 200 with ``body`` instead of Google's JSON."""

        async def swallow(message: Message) -> None:
            return None

        await self.app(scope, receive, swallow)
        raw = body.encode("utf-8", "surrogatepass")
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"application/json; charset=UTF-8"),
                                (b"content-length", str(len(raw)).encode())]})
        await send({"type": "http.response.body", "body": raw})

    async def _applied_but_lost(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def swallow(message: Message) -> None:
            return None

        await self.app(scope, receive, swallow)
        if scope.get("emulator.batch_part"):
            # Inside a batch there is no connection of its own: the whole batch answer is lost.
            raise AppliedButLost("batch part applied, answer dropped")
        if not await drop_connection(receive):
            # Start a response and abort it: servers then close the connection mid-answer.
            await send({"type": "http.response.start", "status": 200,
                        "headers": [(b"content-length", b"100")]})
            raise AppliedButLost("answer dropped after the write was applied")
