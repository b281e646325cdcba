"""The notification policy as a table: which changes email the guests, and how patches are split."""

from __future__ import annotations

import pytest

from policies.notifications import NotificationPolicy
from policies.privacy import PrivacyPolicy

P = NotificationPolicy()


@pytest.mark.parametrize(
    ("changed", "expected"),
    [
        (set(), []),
        ({"summary"}, [({"summary"}, "none")]),
        ({"description", "marker"}, [({"description", "marker"}, "none")]),
        ({"time"}, [({"time"}, "all")]),
        ({"time", "summary"}, [({"time", "summary"}, "all")]),
        ({"location"}, [({"location"}, "all")]),
        ({"conference"}, [({"conference"}, "all")]),
        ({"attendees"}, [({"attendees"}, "none")]),
        ({"attendees", "summary", "marker"}, [({"attendees", "summary", "marker"}, "none")]),
        ({"marker"}, [({"marker"}, "none")]),
        ({"attendees", "time", "summary"}, [({"attendees", "time", "summary"}, "all")]),
        ({"guests"}, [({"guests"}, "none")]),
    ],
)
def test_split(changed: set[str], expected: list[tuple[set[str], str]]) -> None:
    assert [(set(f), s) for f, s in P.split(changed)] == expected


LOUD_MEMBERSHIP = NotificationPolicy.from_settings({"membership_emails": True})


@pytest.mark.parametrize(
    ("changed", "expected"),
    [
        ({"attendees"}, [({"attendees"}, "all")]),
        ({"attendees", "summary", "marker"}, [({"summary"}, "none"), ({"attendees", "marker"}, "all")]),
        ({"attendees", "time"}, [({"attendees", "time"}, "all")]),
    ],
)
def test_split_when_membership_emails_are_on(changed: set[str], expected: list[tuple[set[str], str]]) -> None:
    assert [(set(f), s) for f, s in LOUD_MEMBERSHIP.split(changed)] == expected


def test_create_delete_restore_notify() -> None:
    assert (P.on_create(), P.on_delete(), P.on_restore()) == ("all", "all", "all")


def test_tenant_settings_validated() -> None:
    quiet = NotificationPolicy.from_settings({"notify_on": ["time"]})
    assert [(set(f), s) for f, s in quiet.split({"location"})] == [({"location"}, "none")]
    assert "status" in quiet.notify_on
    with pytest.raises(ValueError, match=r"notifications\.notify_on: unknown field"):
        NotificationPolicy.from_settings({"notify_on": ["colour"]})
    with pytest.raises(ValueError, match=r"notifications\.notify: unknown setting"):
        NotificationPolicy.from_settings({"notify": []})
    with pytest.raises(ValueError, match=r"notifications\.membership_emails"):
        NotificationPolicy.from_settings({"membership_emails": "yes"})


def test_privacy_defaults_hidden_and_validates() -> None:
    assert PrivacyPolicy.from_settings(None).guest_list_visible is False
    assert PrivacyPolicy.from_settings({"guest_list_visible": True}).guest_list_visible is True
    with pytest.raises(ValueError, match=r"privacy\.guest_list_visible"):
        PrivacyPolicy.from_settings({"guest_list_visible": "yes"})


def test_policy_knows_exactly_the_connector_field_groups() -> None:
    # policies may not import connectors (import-linter), so the field names are mirrored; keep them equal.
    from connectors.ports.calendar import FIELDS
    from policies.notifications import KNOWN_FIELDS

    assert frozenset(FIELDS) == KNOWN_FIELDS
