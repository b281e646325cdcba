"""The webhook events Muster sends: one pydantic model per event type, which is also its JSON schema.

Where it sits: pure values, built by the code that emits them (:func:`engine.webhooks.emit`) and serialised
into the delivery's body (:func:`envelope`). ``docs/webhooks.md`` prints the schema of each model
(:func:`schemas`); a test keeps the two equal.

Every body is an envelope ``{"id", "type", "created_at", "tenant", "data"}``: ``id`` is the idempotency key
(also sent as the ``Muster-Webhook-Id`` header, the same on every retry and replay), ``created_at`` when
Muster noticed (UTC, ISO 8601), ``tenant`` the tenant's slug, ``data`` the event's own model below.
Fields are snake_case and every field is always present (``null`` when unknown).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from policies.webhooks import EVENT_TYPES

ResponseStatus = Literal["needsAction", "accepted", "tentative", "declined"]


class WebhookEvent(BaseModel):
    """Base of every event's ``data``: the session it concerns, as the platform and Muster name it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: The event type this model is sent as (one of :data:`policies.webhooks.EVENT_TYPES`).
    type: ClassVar[str] = ""

    session_external_id: str = Field(description="The platform's id of the session (the PUT /v1/sessions/{id}).")
    session_id: uuid.UUID = Field(description="Muster's id of the session.")


class ResponseChanged(WebhookEvent):
    """A learner or host answered the invitation in Google (or changed their answer or comment)."""

    type: ClassVar[str] = "enrollment.response_changed"

    email: str = Field(description="The guest, lower-cased.")
    role: Literal["learner", "host"]
    response_status: ResponseStatus
    previous_response_status: ResponseStatus | None = Field(description="null: Muster had seen no answer yet.")
    comment: str | None = Field(description="The note the guest wrote with the answer, if any.")
    enrollment_status: Literal["enrolled", "waitlisted", "cancelled"] | None = Field(
        description="The learner's enrollment after Muster applied the decline policy; null for a host."
    )


class CancelledByDecline(WebhookEvent):
    """Decline policy ``cancel_and_promote``: a learner declined, so Muster cancelled their enrollment."""

    type: ClassVar[str] = "enrollment.cancelled_by_decline"

    email: str
    comment: str | None
    promoted_email: str | None = Field(description="Who took the seat (see enrollment.promoted); null: nobody waited.")


class Promoted(WebhookEvent):
    """Decline policy ``cancel_and_promote``: the first waitlisted learner was enrolled in a freed seat."""

    type: ClassVar[str] = "enrollment.promoted"

    email: str
    replaces_email: str = Field(description="The learner whose decline freed the seat.")


class SyncStatusChanged(WebhookEvent):
    """The session's state in Google changed: sync status, Meet link, or room (ready, failed ...)."""

    type: ClassVar[str] = "session.sync_status_changed"

    changed: list[Literal["sync_status", "meet", "room"]] = Field(description="What changed since the last event.")
    sync_status: Literal["pending", "synced", "error", "blocked", "removed"]
    previous_sync_status: str | None
    last_error: str | None = Field(description="Why the last attempt failed (error or blocked), else null.")
    meet_status: str | None = Field(description="pending | success | failure | unsupported; null: no Meet asked.")
    meet_link: str | None
    room_status: str | None = Field(description="needsAction | accepted | declined | unsupported; null: no room.")
    room_email: str | None
    calendar_id: str | None
    event_id: str | None


class ChangedInGoogle(WebhookEvent):
    """Someone changed or deleted the session's event in Google, outside Muster."""

    type: ClassVar[str] = "session.changed_in_google"

    calendar_id: str
    event_id: str
    fields: list[str] = Field(
        description="What was edited in Google: time, summary, attendees, ... (empty for a deletion)"
    )
    deleted: bool = Field(description="The event was deleted in Google.")
    policy: Literal["platform_wins", "report_only", "recreate", "flag"] = Field(
        description="The tenant's policy that applied: google_changes.edits (platform_wins | report_only) for an "
        "edit, google_changes.deleted (recreate | flag) for a deletion."
    )
    action: Literal["restored", "kept", "recreated", "flagged"] = Field(
        description="What Muster did: restored the platform's version, kept the edit made in Google, recreated "
        "the deleted event, or left it deleted and flagged the session (sync status blocked)."
    )


class OrganizerTransferred(WebhookEvent):
    """The session's event moved to another Google owner (an organizer left, or the mode switch moved it)."""

    type: ClassVar[str] = "organizer.transferred"

    from_email: str | None
    to_email: str
    calendar_id: str
    reason: str = Field(description="Why, in a few words: the departing organizer's state or the trigger.")


#: Every event model, keyed by its type, in the order of :data:`policies.webhooks.EVENT_TYPES`.
MODELS: dict[str, type[WebhookEvent]] = {
    m.type: m
    for m in (ResponseChanged, CancelledByDecline, Promoted, SyncStatusChanged, ChangedInGoogle, OrganizerTransferred)
}
assert tuple(MODELS) == EVENT_TYPES, "every event type has exactly one model, in the documented order"


def envelope(*, delivery_id: uuid.UUID, tenant_slug: str, created_at: datetime, event: WebhookEvent) -> dict[str, Any]:
    """The JSON body of one delivery (as stored, and sent on every attempt)."""
    return {
        "id": str(delivery_id),
        "type": event.type,
        "created_at": created_at.isoformat().replace("+00:00", "Z"),
        "tenant": tenant_slug,
        "data": event.model_dump(mode="json"),
    }


class Envelope(BaseModel):
    """What every webhook body looks like; ``data`` is the event type's own schema."""

    id: uuid.UUID = Field(description="Idempotency key: the same on every retry and replay of this event.")
    type: str = Field(description="One of the event types below.")
    created_at: datetime = Field(description="When Muster noticed, UTC (ISO 8601, Z).")
    tenant: str = Field(description="The tenant's slug.")
    data: dict[str, Any]


def schemas() -> dict[str, dict[str, Any]]:
    """The JSON schema of the envelope and of each event's ``data`` (docs/webhooks.md prints them)."""
    out = {"envelope": Envelope.model_json_schema()}
    for name, model in MODELS.items():
        out[name] = model.model_json_schema()
    return out
