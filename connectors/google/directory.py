"""Rooms and availability from Google: Directory ``resources.calendars`` and Calendar ``freeBusy``.

Where it sits: ``connectors.google``; implements :class:`connectors.ports.delegation.RoomDirectory` for
:mod:`engine.delegation.rooms` (room choice, the admin UI's room picker, a series' per-date room answers). Built
with the real ``google-api-python-client`` through :func:`connectors.google.clients.build_service`, so
tests run it against the emulator and production against Google unchanged.

A series' instances (:meth:`GoogleRoomDirectory.series_instances`) and a room swapped on one date
(:meth:`GoogleRoomDirectory.set_instance_attendees`, a patch of the instance ``<eventId>_<stamp>``,
which Google stores as an exception of the series) serve :mod:`engine.delegation.room_exceptions`.

Identity: Directory calls need an account allowed to read resources (the tenant's Directory admin,
impersonated through domain-wide delegation, or that admin's OAuth connection); ``freeBusy`` runs as the
acting organizer, who sees rooms' busy times with ``freeBusyReader`` access.

Each request is paced (:func:`connectors.google.pacing.paced_call`: the calendar port's quota buckets) and its
errors are classified by :func:`connectors.google.classify.call` into :mod:`connectors.errors`; a
room missing from a ``freeBusy`` answer (``errors: notFound``) is reported per room, not raised
(Google answers 200).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from functools import partial
from typing import Any

import google_auth_httplib2

from connectors.errors import AuthError, PermanentError
from connectors.google.classify import call
from connectors.google.clients import build_service
from connectors.google.credentials import CALENDAR_SCOPES, CredentialSource
from connectors.google.pacing import paced_call
from connectors.google.transport import SingleShotHttp
from connectors.ports.calendar import Actor
from connectors.ports.delegation import Availability, SeriesInstance

#: Directory's page size cap for resources.calendars.list.
PAGE_SIZE = 500
#: Scope for reading rooms (read-only).
DIRECTORY_SCOPES: tuple[str, ...] = ("https://www.googleapis.com/auth/admin.directory.resource.calendar.readonly",)
#: Google's cap on calendars per freeBusy request (``calendarExpansionMax`` ≤ 50).
FREEBUSY_BATCH = 50


def _parse(ts: str) -> datetime:
    return datetime.fromisoformat(ts.replace("Z", "+00:00")).astimezone(UTC)


def _rfc3339(dt: datetime) -> str:
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class GoogleRoomDirectory:
    """:class:`RoomDirectory` over the real client, with credentials from a
    :class:`~connectors.google.credentials.CredentialSource`. ``directory_actor`` reads the room list
    (None: listing raises ``AuthError``); ``calendar_actor`` asks free/busy."""

    def __init__(
        self,
        credentials: CredentialSource,
        *,
        root_url: str | None,
        directory_actor: Actor | None,
        calendar_actor: Actor,
        customer: str = "my_customer",
    ) -> None:
        self._credentials = credentials
        self._root = root_url
        self._dir_actor = directory_actor
        self._cal_actor = calendar_actor
        self._customer = customer
        self.calls = 0  #: API requests made (benchmarks, tests)

    def _service(self, api: str, version: str, actor: Actor, scopes: tuple[str, ...]) -> Any:
        creds = call(lambda: self._credentials.credentials_for(actor, scopes), actor.email)
        http = google_auth_httplib2.AuthorizedHttp(creds, http=SingleShotHttp(30.0))
        return build_service(api, version, root_url=self._root, http=http)

    def list_rooms(self, *, building_id: str | None = None) -> list[dict[str, Any]]:
        """Every room resource (``resourceCategory`` kept for the policy to judge), all pages."""
        actor = self._dir_actor
        if actor is None:
            raise AuthError(
                "no identity can read the Directory's rooms: set the tenant's Directory admin",
                reason="noDirectoryAdmin",
            )
        service = self._service("admin", "directory_v1", actor, DIRECTORY_SCOPES)
        resources = service.resources().calendars()
        # quotaUser: charge the per-user quota to the acting user, as the calendar connector does.
        kwargs: dict[str, Any] = {"customer": self._customer, "maxResults": PAGE_SIZE, "quotaUser": actor.quota_user}
        if building_id:
            kwargs["query"] = f"buildingId={building_id}"
        request = resources.list(**kwargs)
        items: list[dict[str, Any]] = []
        pages = 0
        while request is not None:
            self.calls += 1
            page: dict[str, Any] = paced_call(partial(request.execute, num_retries=0), actor.email)
            items.extend(page.get("items") or [])
            pages += 1
            if pages > 200:  # loop guard: a server repeating page tokens
                raise PermanentError("Directory rooms: too many pages (page token loop?)")
            request = resources.list_next(request, page)
        return items

    def free_busy(self, emails: Sequence[str], start: datetime, end: datetime) -> dict[str, Availability]:
        """Busy intervals of each calendar in ``[start, end)``; asks at most 50 calendars per request."""
        service = self._service("calendar", "v3", self._cal_actor, CALENDAR_SCOPES)
        out: dict[str, Availability] = {}
        unique = list(dict.fromkeys(e.lower() for e in emails))
        for i in range(0, len(unique), FREEBUSY_BATCH):
            chunk = unique[i : i + FREEBUSY_BATCH]
            body = {
                "timeMin": _rfc3339(start),
                "timeMax": _rfc3339(end),
                "timeZone": "UTC",
                "items": [{"id": e} for e in chunk],
            }
            self.calls += 1
            query = service.freebusy().query(body=body, quotaUser=self._cal_actor.quota_user)
            answer: dict[str, Any] = paced_call(partial(query.execute, num_retries=0), self._cal_actor.email)
            cals = {k.lower(): v for k, v in (answer.get("calendars") or {}).items()}
            for email in chunk:
                entry = cals.get(email)
                if entry is None:
                    out[email] = Availability(error="not in Google's answer")
                    continue
                errors = entry.get("errors") or []
                if errors:
                    out[email] = Availability(error=", ".join(str(e.get("reason")) for e in errors))
                    continue
                out[email] = Availability(
                    tuple((_parse(b["start"]), _parse(b["end"])) for b in entry.get("busy") or [])
                )
        return out

    def room_answers(self, calendar_id: str, event_id: str, room_email: str) -> list[tuple[str, str]]:
        """The room's answer on every instance of a series (``events.instances``, all pages, as the
        organizer): Google accepts a series but declines single dates it is busy on."""
        service = self._service("calendar", "v3", self._cal_actor, CALENDAR_SCOPES)
        events = service.events()
        request = events.instances(
            calendarId=calendar_id, eventId=event_id, maxResults=250, quotaUser=self._cal_actor.quota_user
        )
        out: list[tuple[str, str]] = []
        room = room_email.lower()
        pages = 0
        while request is not None:
            self.calls += 1
            page: dict[str, Any] = paced_call(partial(request.execute, num_retries=0), self._cal_actor.email)
            for inst in page.get("items") or []:
                when = (inst.get("originalStartTime") or inst.get("start") or {}).get("dateTime") or ""
                answer = next(
                    (
                        str(a.get("responseStatus") or "needsAction")
                        for a in inst.get("attendees") or []
                        if str(a.get("email", "")).lower() == room
                    ),
                    "absent",
                )
                out.append((str(when), answer))
            pages += 1
            if pages > 100:
                raise PermanentError("events.instances: too many pages (page token loop?)")
            request = events.instances_next(request, page)
        return out

    def series_instances(self, calendar_id: str, event_id: str) -> list[SeriesInstance]:
        """Every instance of a recurring event, exceptions included (``events.instances``, all pages)."""
        service = self._service("calendar", "v3", self._cal_actor, CALENDAR_SCOPES)
        events = service.events()
        request = events.instances(
            calendarId=calendar_id, eventId=event_id, maxResults=250, quotaUser=self._cal_actor.quota_user
        )
        out: list[SeriesInstance] = []
        pages = 0
        while request is not None:
            self.calls += 1
            page: dict[str, Any] = paced_call(partial(request.execute, num_retries=0), self._cal_actor.email)
            for inst in page.get("items") or []:
                start = (inst.get("start") or {}).get("dateTime")
                end = (inst.get("end") or {}).get("dateTime")
                edge = inst.get("originalStartTime") or inst.get("start") or {}
                original = _rfc3339(_parse(edge["dateTime"])) if edge.get("dateTime") else str(edge.get("date") or "")
                out.append(
                    SeriesInstance(
                        instance_id=str(inst.get("id") or ""),
                        original_start=original,
                        start=_parse(start) if start else None,
                        end=_parse(end) if end else None,
                        cancelled=inst.get("status") == "cancelled",
                        attendees=tuple(a for a in inst.get("attendees") or [] if isinstance(a, dict)),
                    )
                )
            pages += 1
            if pages > 100:
                raise PermanentError("events.instances: too many pages (page token loop?)")
            request = events.instances_next(request, page)
        return out

    def set_instance_attendees(self, calendar_id: str, instance_id: str, attendees: Sequence[dict[str, Any]]) -> None:
        """Patch one instance's attendees (Google keeps it as an exception of the series). No e-mails:
        only the room changes; guests see it in their calendar. ``conferenceDataVersion=1`` keeps Meet."""
        service = self._service("calendar", "v3", self._cal_actor, CALENDAR_SCOPES)
        request = service.events().patch(
            calendarId=calendar_id,
            eventId=instance_id,
            body={"attendees": [dict(a) for a in attendees]},
            sendUpdates="none",
            conferenceDataVersion=1,
            quotaUser=self._cal_actor.quota_user,
        )
        self.calls += 1
        paced_call(partial(request.execute, num_retries=0), self._cal_actor.email)
