"""Deterministic Google event ids and Muster's ownership marker.

Where it sits: used by :mod:`engine.domain.desired` (to name and stamp the event a session should have) and by
:mod:`engine.domain.plan` (to recognise events Muster owns). Pure, no I/O.

* :func:`event_id` - base32hex (``[0-9a-v]``) of SHA-256 over (tenant, session, calendar). A retried
  insert whose first answer was lost meets Google's 409 ``duplicate`` instead of creating a twin.
* :func:`marker` - the private extended properties every Muster event carries: owner, tenant, session
  and the essence hash of what was written. Muster only ever touches events that carry it.
* :func:`essence_hash` - SHA-256 of the canonical form of an :class:`~connectors.ports.calendar.EventSpec`
  (marker excluded), so equal hashes mean "Google already says this".
"""

from __future__ import annotations

import base64
import hashlib
import json
import uuid
from collections.abc import Mapping
from dataclasses import fields, is_dataclass
from datetime import datetime
from typing import Any

from connectors.ports.calendar import ANSWER_FIELDS, EventSpec

#: Private extended-property keys of the ownership marker.
OWNER_KEY = "musterOwner"
OWNER_VALUE = "muster"
TENANT_KEY = "musterTenant"
SESSION_KEY = "musterSession"
ESSENCE_KEY = "musterEssence"

#: Version of the id derivation; changing it would orphan every existing event.
_ID_NAMESPACE = b"muster/event-id/v1"


def event_id(tenant_id: uuid.UUID, session_id: uuid.UUID, calendar_id: str) -> str:
    """The Google event id of a session's event on ``calendar_id`` (52 chars of ``[0-9a-v]``)."""
    digest = hashlib.sha256(
        b"\x00".join([_ID_NAMESPACE, tenant_id.bytes, session_id.bytes, calendar_id.lower().encode()])
    ).digest()
    return base64.b32hexencode(digest).decode("ascii").rstrip("=").lower()


def marker(tenant_id: uuid.UUID, session_id: uuid.UUID, essence: str) -> tuple[tuple[str, str], ...]:
    """The private extended properties stamped on every Muster event (sorted pairs)."""
    return (
        (ESSENCE_KEY, essence),
        (OWNER_KEY, OWNER_VALUE),
        (SESSION_KEY, str(session_id)),
        (TENANT_KEY, str(tenant_id)),
    )


def tenant_filter(tenant_id: uuid.UUID) -> dict[str, str]:
    """The ``privateExtendedProperty`` filter that lists a tenant's Muster events."""
    return {OWNER_KEY: OWNER_VALUE, TENANT_KEY: str(tenant_id)}


def is_owned(private: Mapping[str, str]) -> bool:
    """True when the properties carry Muster's marker."""
    return private.get(OWNER_KEY) == OWNER_VALUE and SESSION_KEY in private and TENANT_KEY in private


def owned_session(private: Mapping[str, str]) -> tuple[uuid.UUID, uuid.UUID] | None:
    """``(tenant_id, session_id)`` from a marker, or ``None`` when the event is not Muster's."""
    if not is_owned(private):
        return None
    try:
        return uuid.UUID(private[TENANT_KEY]), uuid.UUID(private[SESSION_KEY])
    except ValueError:
        return None


#: Types :func:`_plain` returns as they are (JSON scalars).
_SCALARS = frozenset({str, int, bool, float, type(None)})
#: The field names of each dataclass :func:`_plain` met (``False``: not a dataclass), looked up once per class
#: rather than once per value.
_FIELD_NAMES: dict[type, tuple[str, ...] | bool] = {}


def _plain(value: Any) -> Any:
    """The JSON-ready form of ``value`` in one pass: dataclasses as dicts of their fields (``dataclasses.asdict``
    without its deep copy of every leaf), tuples as lists, datetimes as ISO strings. Key order is left to
    ``json.dumps(sort_keys=True)``. Scalar leaves are taken as they are, without a call each."""
    kind = type(value)
    if kind in _SCALARS:
        return value
    names = _FIELD_NAMES.get(kind)
    if names is None:
        names = _FIELD_NAMES[kind] = tuple(f.name for f in fields(kind)) if is_dataclass(kind) else False
    if names is not False:
        return {
            name: v if type(v) in _SCALARS else _plain(v)
            for name in names  # type: ignore[union-attr]
            for v in (getattr(value, name),)
        }
    if isinstance(value, list | tuple):
        return [v if type(v) in _SCALARS else _plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def essence_hash(spec: EventSpec) -> str:
    """SHA-256 hex of the spec's owned fields (the marker itself excluded)."""
    data = _plain(spec)
    data.pop("private", None)
    for att in data.get("attendees") or []:  # guests' answers are theirs, not part of what Muster wrote
        for name in ANSWER_FIELDS:
            att.pop(name, None)
    text = json.dumps(data, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()
