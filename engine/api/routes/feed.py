"""The admin REST API's view of the change feed: each calendar Muster follows in Google, and its state.

Where it sits: beside :mod:`engine.api.routes.admin`, opened by the same admin token (``AdminCaller``), read
only. The rows come from :func:`engine.feed.status.feed_status`, the function ``muster feed status`` and the
admin UI's Health page read. See docs/change-feed.md.

* ``GET /v1/admin/feed``: the tenant's followed calendars (``includeStopped=true``: also those no longer
  followed).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query
from pydantic import Field

from engine.api.deps import Uow
from engine.api.routes.admin import AdminCaller
from engine.api.schemas import ApiModel
from engine.feed.status import FeedCalendarStatus, feed_status

router = APIRouter(prefix="/v1/admin", tags=["admin"])


class FeedCalendarPublic(ApiModel):
    check_text = False
    calendar_id: str
    identity: str = Field(description="Who lists and watches the calendar: `<vendor|delegated|oauth>:<email>`")
    active: bool = Field(description="false: no session's event is on it any more (its channel is stopped)")
    has_sync_token: bool = Field(description="false: the next sync lists the calendar in full")
    synced_at: datetime | None = Field(description="The last incremental (or full) sync")
    full_synced_at: datetime | None = Field(description="The last full listing (first sync, or after a 410)")
    listening: Literal["push", "expired", "timer", "stopped"] = Field(
        description="push: a channel is open; expired: its channel expired (the next pass opens a new one); "
        "timer: no channel (MUSTER_PUSH_URL unset), synced every MUSTER_FEED_POLL_S; stopped: not followed"
    )
    channel_id: str | None
    channel_expires_at: datetime | None
    error_class: str | None = Field(description="Class of the last failed sync (null: the last one worked)")
    last_error: str | None
    pending_changes: int = Field(description="Sessions on this calendar changed in Google, not reconciled yet")


class FeedPublic(ApiModel):
    check_text = False
    calendars: list[FeedCalendarPublic]


def _public(row: FeedCalendarStatus) -> FeedCalendarPublic:
    return FeedCalendarPublic(
        calendar_id=row.calendar_id, identity=row.identity, active=row.active, has_sync_token=row.has_sync_token,
        synced_at=row.synced_at, full_synced_at=row.full_synced_at, listening=row.listening,
        channel_id=row.channel_id, channel_expires_at=row.channel_expires_at, error_class=row.error_class,
        last_error=row.last_error, pending_changes=row.pending_changes,
    )


@router.get("/feed", response_model=FeedPublic, summary="The change feed: each calendar Muster follows")
def get_feed(
    request_admin: AdminCaller,
    uow: Uow,
    include_stopped: Annotated[bool, Query(alias="includeStopped")] = False,
) -> FeedPublic:
    rows = feed_status(db=uow.db, tenant_id=request_admin.tenant.id, include_stopped=include_stopped)
    return FeedPublic(calendars=[_public(r) for r in rows])
