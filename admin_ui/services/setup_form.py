"""The Integration page's two forms (set-up, policies) as data for :func:`engine.admin.tenant_setup.configure`.

Where it sits: :mod:`admin_ui.views.integration` turns a posted form into the ``changes`` the engine validates
through the one settings schema (:mod:`policies.settings`), and turns the stored tenant back into the values
the forms show. Form field names are the settings' dotted paths (``rooms.headroom``), so an error the
schema raises (``settings.rooms.headroom``) lands beside its field. Nothing is validated here beyond
turning text into numbers: the schema decides.

A policy section is saved as a whole (each form shows every field of its section), so an unchecked box
means false and a value the page does not show cannot linger.
"""

from __future__ import annotations

from typing import Any

from starlette.datastructures import FormData

from engine.admin.tenant_setup import SetupError, effective_settings
from engine.store.models import Tenant
from policies.notifications import KNOWN_FIELDS
from policies.successor import HOST_ROLES
from policies.webhooks import EVENT_TYPES

#: Guest-list visibility choices (``privacy.guest_list_visible``).
GUEST_LIST_CHOICES = {
    "hidden": "Hidden: learners do not see each other",
    "visible": "Visible to every attendee",
}
#: Room policy: what happens when enrollment outgrows the booked room (``rooms.on_outgrown``).
OUTGROWN_CHOICES = {"upsize": "Book a larger free room", "warn": "Keep the room and show a warning"}
#: Google-side change policy (``google_changes.edits`` / ``google_changes.deleted``).
GOOGLE_EDIT_CHOICES = {
    "platform_wins": "The platform wins: Muster restores its values",
    "report_only": "Report only: keep the edit made in Google",
}
GOOGLE_DELETED_CHOICES = {
    "recreate": "Recreate the event",
    "flag": "Leave it deleted and flag the session",
}
#: The change groups a person can choose to e-mail every guest about (``notifications.notify_on``).
NOTIFY_CHOICES = sorted(KNOWN_FIELDS - {"marker", "attendees", "status"})
#: What a learner's decline in Google does (``answers.on_decline``).
DECLINE_CHOICES = {
    "report_only": "Report it only: the learner stays enrolled",
    "cancel_and_promote": "Cancel the enrollment and enroll the first waitlisted learner",
}
#: The event types a tenant can choose to receive (``webhooks.events``).
WEBHOOK_EVENT_TYPES = EVENT_TYPES
#: Every form field of the policies form; the odd-input tests post each of them.
POLICY_FIELDS = (
    "fallback_owner_email",
    "guest_list",
    "notifications.membership_emails",
    "notifications.notify_on",
    "rooms.headroom",
    "rooms.on_outgrown",
    "rooms.max_oversize_factor",
    "rooms.max_attempts",
    "rooms.categories",
    "rooms.excluded",
    "successor.eligibleRoles",
    "lifecycle.releaseResources",
    "google_changes.edits",
    "google_changes.deleted",
    "answers.on_decline",
    "webhooks.url",
    "webhooks.events",
    "webhook_secret",
    "webhook_secret_clear",
    "feed.ended_grace_days",
)


def _number(form: FormData, name: str, *, whole: bool = False) -> float | int:
    raw = str(form.get(name) or "").strip().replace(",", ".")
    try:
        return int(raw) if whole else float(raw)
    except ValueError:
        kind = "a whole number" if whole else "a number"
        raise SetupError(f"settings.{name}", f"must be {kind} (got {raw!r})") from None


def _lines(form: FormData, name: str) -> list[str]:
    raw = str(form.get(name) or "")
    return [part.strip() for part in raw.replace(",", "\n").splitlines() if part.strip()]


def policy_changes(form: FormData) -> dict[str, Any]:
    """The posted policies form as ``configure`` changes. Raises :class:`SetupError` for unreadable numbers."""
    shown = set(form.getlist("section"))
    settings: dict[str, Any] = {}
    if "privacy" in shown or "guest_list" in form:
        settings["privacy"] = {"guest_list_visible": str(form.get("guest_list") or "hidden") == "visible"}
    if "notifications" in shown:
        settings["notifications"] = {
            "membership_emails": bool(form.get("notifications.membership_emails")),
            "notify_on": [str(v) for v in form.getlist("notifications.notify_on")],
        }
    if "rooms" in shown:
        settings["rooms"] = {
            "headroom": _number(form, "rooms.headroom"),
            "on_outgrown": str(form.get("rooms.on_outgrown") or ""),
            "max_oversize_factor": _number(form, "rooms.max_oversize_factor"),
            "max_attempts": _number(form, "rooms.max_attempts", whole=True),
            "categories": _lines(form, "rooms.categories"),
            "excluded": _lines(form, "rooms.excluded"),
        }
    if "successor" in shown:
        settings["successor"] = {"eligibleRoles": [str(v) for v in form.getlist("successor.eligibleRoles")]}
    if "lifecycle" in shown:
        settings["lifecycle"] = {"releaseResources": bool(form.get("lifecycle.releaseResources"))}
    if "google_changes" in shown:
        settings["google_changes"] = {
            "edits": str(form.get("google_changes.edits") or ""),
            "deleted": str(form.get("google_changes.deleted") or ""),
        }
    if "sign_in" in shown:
        settings["sign_in"] = {
            "passwords": bool(form.get("sign_in.passwords")),
            "google": bool(form.get("sign_in.google")),
        }
    if "answers" in shown:
        settings["answers"] = {"on_decline": str(form.get("answers.on_decline") or "")}
    if "webhooks" in shown:
        settings["webhooks"] = {
            "url": str(form.get("webhooks.url") or "").strip() or None,
            "events": [str(v) for v in form.getlist("webhooks.events")],
        }
    if "feed" in shown:
        settings["feed"] = {"ended_grace_days": _number(form, "feed.ended_grace_days", whole=True)}
    changes: dict[str, Any] = {"settings": settings}
    secret = str(form.get("webhook_secret") or "")
    if secret:  # empty keeps the stored secret (it is never shown, so the field is always empty)
        changes["webhook_secret"] = secret
    elif form.get("webhook_secret_clear"):
        changes["webhook_secret"] = ""
    if "fallback_owner_email" in form:
        changes["fallback_owner_email"] = str(form.get("fallback_owner_email") or "")
    return changes


def setup_changes(form: FormData) -> dict[str, Any]:
    """The posted set-up form (domain, delegation method, Directory admin, vendor owner pool, mode while empty)."""
    changes: dict[str, Any] = {}
    for name in ("domain", "mode", "delegation_method", "directory_admin_email"):
        if name in form:
            changes[name] = str(form.get(name) or "")
    if "vendor_owner_emails" in form:
        changes["vendor_owner_emails"] = _lines(form, "vendor_owner_emails")
    return changes


def form_values(tenant: Tenant) -> dict[str, Any]:
    """What the two forms show for ``tenant`` (every policy with its defaults filled in)."""
    settings = effective_settings(tenant)
    privacy = settings.get("privacy") or {}
    return {
        "fallback_owner_email": tenant.fallback_owner_email,
        "domain": tenant.google_domain,
        "guest_list": "visible" if isinstance(privacy, dict) and privacy.get("guest_list_visible") else "hidden",
        "settings": settings,
        "delegation_method": tenant.delegation_method,
        "directory_admin_email": tenant.directory_admin_email,
        "vendor_owner_emails": "\n".join(tenant.vendor_owner_emails or []),
        "host_roles": HOST_ROLES,
    }


def error_field(field: str) -> str:
    """The form field an engine error belongs to (``settings.rooms.headroom`` → ``rooms.headroom``)."""
    name = field.removeprefix("settings.")
    if name.startswith("privacy"):
        return "guest_list"
    return name
