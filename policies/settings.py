"""The whole ``Tenant.settings`` document, one section per policy, each declared once in its policy module.

Where it sits: pure. Writers (the admin REST API, the Integration page, ``muster tenant set``) validate a
change with :func:`merged` before storing it; readers (the reconcile, the organizer lifecycle) check the
stored document with :meth:`TenantSettings.parse` and report a :class:`~policies.schema.SettingError` by
name instead of failing somewhere inside. An unknown section is an error too: a misspelt section would
otherwise be ignored silently.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from pydantic import ConfigDict, Field

from policies.answers import AnswersSettings
from policies.feed import FeedSettings
from policies.google_changes import GoogleChangeSettings
from policies.notifications import NotificationSettings
from policies.privacy import PrivacySettings
from policies.rooms import RoomSettings
from policies.schema import SettingError, SettingsSection
from policies.sign_in import SignInSettings
from policies.successor import LifecycleSettings, SuccessorSettings
from policies.webhooks import WebhookSettings

#: Section key → its model (the order the Integration page and ``muster tenant show`` list them in).
SECTIONS: dict[str, type[SettingsSection]] = {
    m.section: m
    for m in (
        PrivacySettings,
        NotificationSettings,
        RoomSettings,
        SuccessorSettings,
        LifecycleSettings,
        AnswersSettings,
        WebhookSettings,
        GoogleChangeSettings,
        SignInSettings,
        FeedSettings,
    )
}


class TenantSettings(SettingsSection):
    """Every policy setting of a tenant (``Tenant.settings``); absent sections take their defaults."""

    section: ClassVar[str] = "settings"
    not_object: ClassVar[str] = "must be an object with sections " + ", ".join(SECTIONS)

    privacy: PrivacySettings = Field(default_factory=PrivacySettings)
    notifications: NotificationSettings = Field(default_factory=NotificationSettings)
    rooms: RoomSettings = Field(default_factory=RoomSettings)
    successor: SuccessorSettings = Field(default_factory=SuccessorSettings)
    lifecycle: LifecycleSettings = Field(default_factory=LifecycleSettings)
    answers: AnswersSettings = Field(default_factory=AnswersSettings)
    webhooks: WebhookSettings = Field(default_factory=WebhookSettings)
    google_changes: GoogleChangeSettings = Field(default_factory=GoogleChangeSettings)
    sign_in: SignInSettings = Field(default_factory=SignInSettings)
    feed: FeedSettings = Field(default_factory=FeedSettings)

    @classmethod
    def parse(cls, data: Any) -> TenantSettings:
        """Validate the stored document section by section, so an error names ``section.field``."""
        if data is None:
            return cls()
        if not isinstance(data, Mapping):
            raise SettingError(cls.section, cls.not_object)
        unknown = sorted(set(data) - set(SECTIONS))
        if unknown:
            raise SettingError(unknown[0], "unknown settings section; known: " + ", ".join(SECTIONS))
        sections: dict[str, Any] = {key: SECTIONS[key].parse(value) for key, value in data.items()}
        return cls(**sections)


class SettingsPatch(SettingsSection):
    """A change to ``Tenant.settings``, as ``PATCH /v1/admin/tenant`` takes it: each section given is the very
    model the engine reads (:class:`PrivacySettings` and the others), so the OpenAPI document lists every
    setting with its type, bounds and default, and an unknown section or key is refused by name.

    Only the keys sent change (:meth:`changes`); a section sent as ``null`` goes back to its defaults."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)
    section: ClassVar[str] = "settings"

    privacy: PrivacySettings | None = None
    notifications: NotificationSettings | None = None
    rooms: RoomSettings | None = None
    successor: SuccessorSettings | None = None
    lifecycle: LifecycleSettings | None = None
    answers: AnswersSettings | None = None
    webhooks: WebhookSettings | None = None
    google_changes: GoogleChangeSettings | None = None
    sign_in: SignInSettings | None = None
    feed: FeedSettings | None = None

    def changes(self) -> dict[str, dict[str, Any] | None]:
        """``{section: the keys sent (stored names)}``, ``None`` for a section sent as null; for :func:`merged`."""
        out: dict[str, dict[str, Any] | None] = {}
        for key in self.model_fields_set:
            value: SettingsSection | None = getattr(self, key)
            out[key] = (
                None if value is None
                else value.model_dump(mode="json", by_alias=True, include=set(value.model_fields_set))
            )
        return out


def merged(
    current: Mapping[str, Any] | None, changes: Mapping[str, Any], *, replace_sections: bool = False
) -> dict[str, Any]:
    """``current`` with ``changes`` applied (per section, key by key), validated; the JSON to store.

    ``changes`` maps a section to the keys it sets (``{"rooms": {"headroom": 0.1}}``); a section given as
    ``None`` goes back to its defaults; ``replace_sections`` (a form that shows every field of a section)
    replaces each given section instead of merging into it. Raises :class:`SettingError` naming the first
    bad setting; the result holds every section that is stored or changed, each with every value explicit.
    """
    doc: dict[str, Any] = {k: dict(v) if isinstance(v, Mapping) else v for k, v in (current or {}).items()}
    for key, value in changes.items():
        if key not in SECTIONS:
            raise SettingError(key, "unknown settings section; known: " + ", ".join(SECTIONS))
        if value is None:
            doc.pop(key, None)
            continue
        if not isinstance(value, Mapping):
            raise SettingError(key, SECTIONS[key].not_object)
        base = None if replace_sections else doc.get(key)
        doc[key] = {**(base if isinstance(base, Mapping) else {}), **value}
    TenantSettings.parse(doc)
    return {key: SECTIONS[key].parse(value).stored() for key, value in doc.items()}
