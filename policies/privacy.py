"""Privacy policy: what guests of a Muster event may see and do.

Where it sits: pure policy-as-data, read by :mod:`engine.domain.desired` when it builds an event. Imports
nothing from the project. Tenant setting (``Tenant.settings["privacy"]``)::

    {"guest_list_visible": false}   # default: learners do not see each other's addresses

Guests can never invite others or modify the event: the platform decides who attends.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class PrivacyPolicy:
    guest_list_visible: bool = False
    guests_can_invite_others: bool = False
    guests_can_modify: bool = False

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any] | None) -> PrivacyPolicy:
        """Validate ``{"guest_list_visible": bool}``; raise ``ValueError`` naming the bad field."""
        if not settings:
            return cls()
        if not isinstance(settings, Mapping):
            raise ValueError('privacy: must be an object like {"guest_list_visible": false}')
        unknown = set(settings) - {"guest_list_visible"}
        if unknown:
            raise ValueError(
                f"privacy: unknown setting(s) {sorted(unknown)}; only guest_list_visible is known"
            )
        visible = settings.get("guest_list_visible", False)
        if not isinstance(visible, bool):
            raise ValueError("privacy.guest_list_visible: must be true or false")
        return cls(guest_list_visible=visible)
