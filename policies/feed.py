"""Change-feed policy: how long after a session ends the periodic sweep still looks at it.

Where it sits: pure policy-as-data, read by :func:`engine.sync.sweep.sweep_changes` through
:class:`policies.settings.TenantSettings`. Tenant setting (``Tenant.settings["feed"]``), declared once by
:class:`FeedSettings`::

    {"ended_grace_days": 7}   # sessions that ended more than 7 days ago are no longer swept

A platform change to an ended session is still synced at once (event-driven), and ``muster reconcile
--all`` still verifies every session; only the periodic sweep skips them.
"""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from policies.schema import SettingsSection


class FeedSettings(SettingsSection):
    """``Tenant.settings["feed"]``."""

    section: ClassVar[str] = "feed"
    not_object: ClassVar[str] = 'must be an object like {"ended_grace_days": 7}'

    ended_grace_days: int = Field(
        default=7,
        ge=0,
        le=3650,
        description="Days after a session ends during which the periodic sweep still checks it (0-3650).",
    )
