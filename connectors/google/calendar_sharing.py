"""Calendar ACL writes (``acl.insert`` / ``acl.delete``), acting as a calendar's owner.

Where it sits: ``connectors.google``; implements :class:`connectors.ports.lifecycle.CalendarSharingPort`
for :mod:`engine.lifecycle.transfer`. Google's ``events.move`` needs the caller to have writer access to
both calendars (reference §2.6), so before moving a leaving organizer's events the successor (as owner of
the destination calendar) shares it with the organizer, and removes the rule afterwards. Rules are
written with ``sendNotifications=false``: nobody gets an email about this. Each request is paced
(:func:`connectors.google.pacing.paced_call`) and its errors are classified by :func:`connectors.google.classify.call`.
"""

from __future__ import annotations

from typing import Any

import google_auth_httplib2

from connectors.errors import PermanentError
from connectors.google.classify import call
from connectors.google.clients import build_service
from connectors.google.credentials import CALENDAR_SCOPES, CredentialSource
from connectors.google.pacing import paced_call
from connectors.google.transport import SingleShotHttp
from connectors.ports.calendar import Actor


class GoogleCalendarSharing:
    """ACL changes on calendars owned by ``actor``."""

    def __init__(self, actor: Actor, credentials: CredentialSource, *, root_url: str | None,
                 timeout_s: float = 30.0) -> None:
        self.actor = actor
        self._credentials = credentials
        self._root_url = root_url
        self._timeout_s = timeout_s
        self._service: Any = None
        self.calls = 0  #: API requests made (benchmarks, tests)

    def _acl(self) -> Any:
        if self._service is None:
            creds = call(lambda: self._credentials.credentials_for(self.actor, CALENDAR_SCOPES),
                         self.actor.email)
            http = google_auth_httplib2.AuthorizedHttp(creds, http=SingleShotHttp(self._timeout_s))
            self._service = build_service("calendar", "v3", root_url=self._root_url, http=http)
        return self._service.acl()

    def share(self, calendar_id: str, email: str, role: str = "writer") -> None:
        body = {"role": role, "scope": {"type": "user", "value": email.lower()}}
        self.calls += 1
        paced_call(lambda: self._acl().insert(calendarId=calendar_id, body=body, sendNotifications=False)
             .execute(num_retries=0), self.actor.email)

    def unshare(self, calendar_id: str, email: str) -> None:
        self.calls += 1
        try:
            paced_call(lambda: self._acl().delete(calendarId=calendar_id, ruleId=f"user:{email.lower()}")
                 .execute(num_retries=0), self.actor.email)
        except PermanentError as err:
            if err.status not in (404, 410):
                raise


class GoogleCalendarSharingFactory:
    """``Actor -> GoogleCalendarSharing`` with shared credentials."""

    def __init__(self, credentials: CredentialSource, *, root_url: str | None,
                 timeout_s: float = 30.0) -> None:
        self.credentials = credentials
        self.root_url = root_url
        self.timeout_s = timeout_s

    def __call__(self, actor: Actor) -> GoogleCalendarSharing:
        return GoogleCalendarSharing(actor, self.credentials, root_url=self.root_url,
                                     timeout_s=self.timeout_s)
