"""Sync and page tokens of the emulated Calendar (reference §6.1).

Where it sits: used by ``events.py``. Tokens are opaque base64url strings carrying the world epoch,
calendar id, the calendar's token generation, the change counter and the issue time, with an HMAC so that
a garbled or foreign token is detected; a token from another calendar, an earlier world (after reset),
an earlier generation of its calendar (:func:`invalidate_sync_tokens`: the control route, or a change of
the calendar's ACL, "changes in related ACLs"), older than ``options.sync_token_ttl_s`` (when set: token
expiration) or with a bad MAC → 410 ``fullSyncRequired`` for that calendar only. Page tokens
carry the offset, a fingerprint of the query and the change counter at the first page (the future
``nextSyncToken``); a page token used with a different query → 400 "Invalid page token value.".
With ``options.empty_pages`` a page token may also mark "the empty page before this offset was served".
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any

from connectors.google_emulator.errors import ApiError, bad_request
from connectors.google_emulator.state import World


def _key(world: World) -> bytes:
    secret: bytes = world.extra.setdefault("token_secret", hashlib.sha256(world.epoch.encode()).digest())
    return secret


def _seal(world: World, payload: dict[str, Any]) -> str:
    raw = json.dumps(payload, separators=(",", ":"), sort_keys=True).encode()
    mac = hmac.new(_key(world), raw, hashlib.sha256).digest()[:10]
    return base64.urlsafe_b64encode(mac + raw).decode().rstrip("=")


def _open(world: World, token: str) -> dict[str, Any] | None:
    try:
        blob = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    except (ValueError, TypeError):
        return None
    mac, raw = blob[:10], blob[10:]
    if not hmac.compare_digest(mac, hmac.new(_key(world), raw, hashlib.sha256).digest()[:10]):
        return None
    try:
        data = json.loads(raw)
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def full_sync_required() -> ApiError:
    return ApiError(
        410,
        "fullSyncRequired",
        "Sync token is no longer valid, a full sync is required.",
        domain="calendar",
        location="syncToken",
        location_type="parameter",
    )


def _generation(world: World, calendar_id: str) -> int:
    gens: dict[str, int] = world.extra.setdefault("sync_generations", {})
    return gens.get(calendar_id, 0)


def invalidate_sync_tokens(world: World, calendar_id: str) -> int:
    """Make every sync token issued so far for ``calendar_id`` answer 410; returns the new generation."""
    with world.lock:
        gens: dict[str, int] = world.extra.setdefault("sync_generations", {})
        gens[calendar_id] = gens.get(calendar_id, 0) + 1
        return gens[calendar_id]


def _now_ms(world: World) -> int:
    return int(world.now().timestamp() * 1000)


def make_sync_token(world: World, calendar_id: str, counter: int) -> str:
    payload = {"k": "s", "e": world.epoch, "c": calendar_id, "n": counter}
    payload |= {"g": _generation(world, calendar_id), "t": _now_ms(world)}
    return _seal(world, payload)


def read_sync_token(world: World, calendar_id: str, token: str) -> int:
    data = _open(world, token)
    if data is None or data.get("k") != "s" or data.get("e") != world.epoch or data.get("c") != calendar_id:
        raise full_sync_required()
    if data.get("g", 0) != _generation(world, calendar_id):
        raise full_sync_required()
    ttl = world.options.sync_token_ttl_s
    if ttl and _now_ms(world) - int(data.get("t", 0)) > ttl * 1000:
        raise full_sync_required()
    return int(data["n"])


def make_page_token(
    world: World, fingerprint: str, offset: int, upper: int, *, empty_served: bool = False
) -> str:
    payload: dict[str, Any] = {"k": "p", "e": world.epoch, "f": fingerprint, "o": offset, "u": upper}
    if empty_served:
        payload["z"] = 1
    return _seal(world, payload)


def empty_page_served(world: World, token: str | None) -> bool:
    """Whether the page token was handed out by an empty page (``options.empty_pages``)."""
    data = _open(world, token) if token else None
    return bool(data and data.get("z"))


def read_page_token(world: World, fingerprint: str, token: str) -> tuple[int, int]:
    data = _open(world, token)
    if data is None or data.get("k") != "p" or data.get("e") != world.epoch or data.get("f") != fingerprint:
        raise bad_request("Invalid page token value.", location="pageToken")
    return int(data["o"]), int(data["u"])


def fingerprint(parts: list[tuple[str, str]]) -> str:
    text = "&".join(
        f"{k}={v}"
        for k, v in sorted(parts)
        if k not in ("pageToken", "alt", "prettyPrint", "fields", "quotaUser", "key")
    )
    return hashlib.sha256(text.encode()).hexdigest()[:16]
