"""Privacy policy: what guests of a Muster event may see and do.

Where it sits: pure policy-as-data, read by :mod:`engine.domain.desired` when it builds an event. Imports
nothing from the project but :mod:`policies.schema`. Tenant setting (``Tenant.settings["privacy"]``),
declared once by :class:`PrivacySettings`::

    {"guest_list_visible": false}   # default: learners do not see each other's addresses

Guests can never invite others or modify the event: the platform decides who attends.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from pydantic import Field

from policies.schema import SettingsSection


class PrivacySettings(SettingsSection):
    """``Tenant.settings["privacy"]``."""

    section: ClassVar[str] = "privacy"
    not_object: ClassVar[str] = 'must be an object like {"guest_list_visible": false}'

    guest_list_visible: bool = Field(
        default=False, description="Attendees see each other's addresses (default: hidden)."
    )


@dataclass(frozen=True)
class PrivacyPolicy:
    guest_list_visible: bool = False
    guests_can_invite_others: bool = False
    guests_can_modify: bool = False

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any] | None) -> PrivacyPolicy:
        """Validate through :class:`PrivacySettings`; raise ``ValueError`` naming the bad field."""
        return cls(guest_list_visible=PrivacySettings.parse(settings).guest_list_visible)
