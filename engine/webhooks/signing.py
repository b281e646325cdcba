"""Signing webhook bodies: HMAC-SHA256 over ``"<timestamp>.<body>"`` with the tenant's secret.

Where it sits: pure; :mod:`engine.webhooks.delivery` signs each attempt with :func:`signed_headers`, and
:func:`verify` is the recipe the platform follows (docs/webhooks.md shows it in Python and with openssl).
The timestamp is in the signed content so a captured request cannot be replayed later than the platform's
tolerance; the delivery id (idempotency key) travels in its own header and inside the body.

NOTE: the standard library's ``hmac`` is the well-kept implementation here; a signing library would add a
dependency and, for the Standard Webhooks scheme, impose a secret format the platform did not choose.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping

#: The headers every delivery carries.
ID_HEADER = "Muster-Webhook-Id"
TIMESTAMP_HEADER = "Muster-Webhook-Timestamp"
SIGNATURE_HEADER = "Muster-Webhook-Signature"
TYPE_HEADER = "Muster-Webhook-Type"
#: The signature scheme's version prefix (a future scheme gets ``v2=`` beside it).
SCHEME = "v1"
#: How old a timestamp :func:`verify` accepts by default (seconds).
DEFAULT_TOLERANCE_S = 300


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """Hex HMAC-SHA256 of ``b"<timestamp>." + body`` keyed with the UTF-8 bytes of ``secret``."""
    return hmac.new(secret.encode(), str(timestamp).encode() + b"." + body, hashlib.sha256).hexdigest()


def signed_headers(*, secret: str, timestamp: int, body: bytes, delivery_id: str, event_type: str) -> dict[str, str]:
    """Every header of one attempt (the body is sent as ``application/json``)."""
    return {
        "Content-Type": "application/json",
        ID_HEADER: delivery_id,
        TYPE_HEADER: event_type,
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: f"{SCHEME}={signature(secret, timestamp, body)}",
    }


def verify(
    *, secret: str, headers: Mapping[str, str], body: bytes, now: float, tolerance_s: int = DEFAULT_TOLERANCE_S
) -> bool:
    """The platform's check: the signature matches this body and timestamp, and the timestamp is recent."""
    lower = {k.lower(): v for k, v in headers.items()}
    raw_ts = lower.get(TIMESTAMP_HEADER.lower(), "")
    if not raw_ts.isdigit() or abs(now - int(raw_ts)) > tolerance_s:
        return False
    expected = signature(secret, int(raw_ts), body)
    given = [part.strip().removeprefix(f"{SCHEME}=") for part in lower.get(SIGNATURE_HEADER.lower(), "").split(",")
             if part.strip().startswith(f"{SCHEME}=")]
    return any(hmac.compare_digest(expected, g) for g in given)
