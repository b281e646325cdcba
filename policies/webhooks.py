"""Webhook settings: where Muster tells the platform what happened, and which events it wants.

Where it sits: pure policy data (``policies`` layer; imports nothing from the project but
:mod:`policies.schema`). :mod:`engine.webhooks.outbox` reads the stored section through
:class:`WebhookSettings` before it writes a delivery; tenant set-up validates a change with the same model.

``Tenant.settings["webhooks"]``:

* ``url``: the platform's HTTPS endpoint (``http://`` is accepted only for ``localhost`` / ``127.0.0.1``,
  for a receiver on the same machine); ``null`` (the default) turns webhooks off;
* ``events``: the event types to send (default: all of :data:`EVENT_TYPES`).

The signing secret is not a setting: it is a credential, stored encrypted beside the tenant and set
through tenant set-up's write-only ``webhook_secret`` field (see docs/webhooks.md).
"""

from __future__ import annotations

import ipaddress
from typing import ClassVar
from urllib.parse import urlsplit

from pydantic import Field, field_validator

from policies.schema import SettingsSection

#: Every event type Muster sends, in the order docs/webhooks.md documents them.
EVENT_TYPES: tuple[str, ...] = (
    "enrollment.response_changed",
    "enrollment.cancelled_by_decline",
    "enrollment.promoted",
    "session.sync_status_changed",
    "session.changed_in_google",
    "organizer.transferred",
)
#: Hosts an ``http://`` URL may name (a receiver on the same machine); anything else must be ``https``.
LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})


def _internal_address(host: str) -> bool:
    """An IP literal Muster's workers must not be pointed at (private, loopback, link-local such as the cloud
    metadata address, reserved). Host names are resolved by the engine (:mod:`engine.webhooks.address`):
    this layer does no I/O."""
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return address.is_private or address.is_loopback or address.is_link_local or address.is_reserved \
        or address.is_multicast or address.is_unspecified


class WebhookSettings(SettingsSection):
    """``Tenant.settings["webhooks"]``: the platform's endpoint and the events it receives."""

    section: ClassVar[str] = "webhooks"
    not_object: ClassVar[str] = 'must be an object like {"url": "https://platform.example/muster-hooks"}'

    url: str | None = Field(default=None, description="The platform's endpoint; null turns webhooks off.")
    events: list[str] = Field(
        default_factory=lambda: list(EVENT_TYPES), description="Event types to send (default: all)."
    )

    @field_validator("url")
    @classmethod
    def _valid_url(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        value = value.strip()
        parts = urlsplit(value)
        if parts.scheme not in ("https", "http") or not parts.hostname:
            raise ValueError("must be an https:// URL like https://platform.example/muster-hooks")
        if parts.scheme == "http" and parts.hostname not in LOCAL_HOSTS:
            raise ValueError("must use https:// (http:// only for localhost or 127.0.0.1)")
        if parts.username or parts.password:
            raise ValueError("must not carry a user name or password; the signature authenticates Muster")
        if parts.scheme == "https" and _internal_address(parts.hostname):
            raise ValueError(
                f"must name the platform by a public host name, not the internal address {parts.hostname}"
            )
        if len(value) > 2000:
            raise ValueError("must be at most 2000 characters")
        return value

    @field_validator("events")
    @classmethod
    def _known_events(cls, value: list[str]) -> list[str]:
        unknown = sorted(set(value) - set(EVENT_TYPES))
        if unknown:
            raise ValueError(f"unknown event type(s) {unknown}; use some of {list(EVENT_TYPES)}")
        return [e for e in EVENT_TYPES if e in value]

    def wants(self, event_type: str) -> bool:
        """Is a delivery of ``event_type`` to be written?"""
        return self.url is not None and event_type in self.events
