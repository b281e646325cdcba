"""``GoogleCalendar``: the :class:`~connectors.ports.calendar.CalendarPort` implemented with google-api-python-client.

Where it sits: ``connectors.google``. Built per acting identity by :class:`GoogleCalendarFactory` (the
engine receives the factory by injection). Every call goes through :func:`connectors.google.classify.call`
so the engine only ever sees :mod:`connectors.errors` classes. No hidden retries: ``num_retries=0`` and a
transport that never re-sends (:mod:`connectors.google.transport`); the task layer owns retrying.

Per call it sends ``quotaUser`` = the acting calendar user (:attr:`connectors.ports.calendar.Actor.quota_user`:
the email, or a hash of it past Google's 40-character limit), so Google charges the per-user quota to that
user rather than to the service account (reference §7.4), matching Muster's own per-identity limiter.
``on_call(actor_key, method, outcome)`` (optional) observes each call for metrics. Writes always send
``conferenceDataVersion=1`` so a patch never drops a Meet conference created earlier.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from typing import Any

import google_auth_httplib2

from connectors.errors import ConnectorError, PermanentError, RetriableError
from connectors.google.classify import call
from connectors.google.clients import build_service
from connectors.google.credentials import CALENDAR_SCOPES, CredentialSource
from connectors.google.mapping import fields_body, insert_body, remote_event
from connectors.google.transport import SingleShotHttp
from connectors.ports.calendar import Actor, CheckResult, EventSpec, RemoteEvent, SendUpdates

#: Observer of calls: ``(actor_key, method, outcome)``; outcome is ``ok`` or an error class.
CallObserver = Callable[[str, str, str], None]

_build_lock = threading.Lock()
#: Ports a thread keeps (one per service-account identity it acted as); past this the cache starts over.
PORTS_PER_THREAD = 256


def _unreadable(what: str, detail: object) -> RetriableError:
    text = str(detail)
    return RetriableError(
        f"unreadable answer from Google ({what}): {text if len(text) <= 200 else text[:197] + '...'}",
        reason="badResponse",
    )


def parsed_event(calendar_id: str, data: object) -> RemoteEvent:
    """Google's Event JSON as a :class:`RemoteEvent`; an answer of the wrong shape is a retryable
    ``badResponse`` (a write whose answer was garbled is then retried, meets 409 and adopts the event)."""
    if not isinstance(data, Mapping):
        raise _unreadable("an event was expected", f"got {type(data).__name__}: {data!r}")
    try:
        return remote_event(calendar_id, data)
    except (AttributeError, TypeError, KeyError, IndexError, ValueError) as exc:
        raise _unreadable("an event of the wrong shape", f"{type(exc).__name__}: {exc}") from exc


class GoogleCalendar:
    """Calendar operations acting as one :class:`Actor`. Not shared between threads."""

    def __init__(
        self,
        actor: Actor,
        credentials: CredentialSource,
        *,
        root_url: str | None,
        timeout_s: float = 30.0,
        on_call: CallObserver | None = None,
        http: SingleShotHttp | None = None,
    ) -> None:
        self.actor = actor
        self._http = http
        self._credentials = credentials
        self._root_url = root_url
        self._timeout_s = timeout_s
        self._on_call = on_call
        self._service: Any = None
        self._events_resource: Any = None
        self._creds: Any = None

    # ------------------------------------------------------------------ plumbing
    def _svc(self) -> Any:
        if self._service is None:
            creds = call(
                lambda: self._credentials.credentials_for(self.actor, CALENDAR_SCOPES), self.actor.email
            )
            self._creds = creds
            transport = self._http or SingleShotHttp(self._timeout_s)
            http = google_auth_httplib2.AuthorizedHttp(creds, http=transport)
            with _build_lock:
                self._service = build_service("calendar", "v3", root_url=self._root_url, http=http)
        return self._service

    def _events(self) -> Any:
        # Building the ``events`` resource creates every method object (~40 ms); do it once per port.
        if self._events_resource is None:
            self._events_resource = self._svc().events()
        return self._events_resource

    def _run(self, method: str, make: Callable[[Any], Any], *, gone_is_an_answer: bool = False) -> Any:
        """Send one request. ``gone_is_an_answer`` (reads and deletes): a 404/410 is Google's answer that the
        event does not exist, observed as ``not_found`` rather than as a failure (the caller decides)."""
        outcome = "ok"
        try:
            return call(lambda: make(self._events()).execute(num_retries=0), self.actor.email)
        except ConnectorError as exc:
            gone = gone_is_an_answer and isinstance(exc, PermanentError) and exc.status in (404, 410)
            outcome = "not_found" if gone else exc.error_class
            if exc.reason == "badResponse" and "token endpoint" in str(exc):
                self._forget_token()
            raise
        finally:
            if self._on_call is not None:
                self._on_call(self.actor.key, method, outcome)

    def _forget_token(self) -> None:
        """Drop a token taken from a garbled answer (the credentials are shared), so the next call refreshes."""
        if self._creds is not None and hasattr(self._creds, "token"):
            self._creds.token = None
            self._creds.expiry = None

    # ------------------------------------------------------------------ CalendarPort
    def get(self, calendar_id: str, event_id: str) -> RemoteEvent | None:
        try:
            data = self._run(
                "get", lambda ev: ev.get(calendarId=calendar_id, eventId=event_id, quotaUser=self.actor.quota_user),
                gone_is_an_answer=True,
            )
        except PermanentError as exc:
            if exc.status in (404, 410):
                return None
            raise
        return parsed_event(calendar_id, data)

    def list_owned(self, calendar_id: str, marker: Mapping[str, str]) -> list[RemoteEvent]:
        filters = [f"{k}={v}" for k, v in sorted(marker.items())]
        out: list[RemoteEvent] = []
        token: str | None = None
        seen_tokens: set[str] = set()
        while True:

            def request(ev: Any, page_token: str | None = token) -> Any:
                return ev.list(
                    calendarId=calendar_id,
                    privateExtendedProperty=filters,
                    showDeleted=True,
                    maxResults=2500,
                    pageToken=page_token,
                    quotaUser=self.actor.quota_user,
                )

            page = self._run("list", request)
            items = page.get("items") if isinstance(page, Mapping) else None
            if not isinstance(page, Mapping) or not isinstance(items, list | None):
                raise _unreadable("an event list was expected", repr(page))
            out.extend(parsed_event(calendar_id, item) for item in items or [])
            token = page.get("nextPageToken")
            if token is not None and not isinstance(token, str):
                raise _unreadable("a page token was expected", repr(token))
            if not token:
                return out
            if token in seen_tokens:  # a server repeating a page token would loop forever
                raise PermanentError(
                    f"Google repeated page token while listing {calendar_id}", reason="paginationLoop"
                )
            seen_tokens.add(token)

    def insert(
        self, calendar_id: str, event_id: str, spec: EventSpec, *, send_updates: SendUpdates
    ) -> RemoteEvent:
        body = insert_body(event_id, spec)
        data = self._run(
            "insert",
            lambda ev: ev.insert(
                calendarId=calendar_id,
                body=body,
                sendUpdates=send_updates,
                conferenceDataVersion=1,
                quotaUser=self.actor.quota_user,
            ),
        )
        return parsed_event(calendar_id, data)

    def patch(
        self,
        calendar_id: str,
        event_id: str,
        spec: EventSpec,
        fields: frozenset[str],
        *,
        send_updates: SendUpdates,
        status: str | None = None,
        if_match: str | None = None,
    ) -> RemoteEvent:
        body = fields_body(spec, sorted(fields))
        if status is not None:
            body["status"] = status

        def request(ev: Any) -> Any:
            req = ev.patch(
                calendarId=calendar_id,
                eventId=event_id,
                body=body,
                sendUpdates=send_updates,
                conferenceDataVersion=1,
                quotaUser=self.actor.quota_user,
            )
            if if_match:  # the client never sends If-Match by itself (reference §2.3)
                req.headers["If-Match"] = if_match
            return req

        data = self._run("patch", request)
        return parsed_event(calendar_id, data)

    def delete(self, calendar_id: str, event_id: str, *, send_updates: SendUpdates) -> None:
        try:
            self._run(
                "delete",
                lambda ev: ev.delete(
                    calendarId=calendar_id,
                    eventId=event_id,
                    sendUpdates=send_updates,
                    quotaUser=self.actor.quota_user,
                ),
                gone_is_an_answer=True,
            )
        except PermanentError as exc:
            if exc.status in (404, 410):
                return  # already gone (a lost answer to an earlier delete, or removed by hand)
            raise

    def move(
        self, calendar_id: str, event_id: str, destination: str, *, send_updates: SendUpdates
    ) -> RemoteEvent:
        data = self._run(
            "move",
            lambda ev: ev.move(
                calendarId=calendar_id,
                eventId=event_id,
                destination=destination,
                sendUpdates=send_updates,
                quotaUser=self.actor.quota_user,
            ),
        )
        return parsed_event(destination, data)

    def check(self) -> CheckResult:
        try:
            self._run(
                "list",
                lambda ev: ev.list(calendarId=self.actor.email, maxResults=1, quotaUser=self.actor.quota_user),
            )
        except ConnectorError as exc:
            return CheckResult(False, str(exc))
        return CheckResult(True, f"{self.actor.email}: calendar reachable")


class GoogleCalendarFactory:
    """``Actor -> GoogleCalendar`` sharing credentials and one transport (a ``CalendarPortFactory``)."""

    def __init__(
        self,
        credentials: CredentialSource,
        *,
        root_url: str | None,
        timeout_s: float = 30.0,
        on_call: CallObserver | None = None,
    ) -> None:
        self.credentials = credentials
        self.root_url = root_url
        self.timeout_s = timeout_s
        self.on_call = on_call
        self.http = SingleShotHttp(timeout_s)  # one connection pool shared by every port (thread-safe)
        self._local = threading.local()

    def __call__(self, actor: Actor) -> GoogleCalendar:
        """The port of ``actor`` for the calling thread.

        Service-account identities (``vendor``, ``delegated``) get one port per identity and thread, kept
        across reconciles: building the discovery client and its ``events`` resource cost about a quarter
        of a no-op reconcile's CPU. Ports are not shared between threads (the client objects are not
        thread-safe). ``oauth`` identities get a fresh port each time, so a reconnected organizer's new
        grant is used at once.
        """
        if actor.kind == "oauth":
            return self._new(actor)
        cache: dict[Actor, GoogleCalendar] | None = getattr(self._local, "ports", None)
        if cache is None:
            cache = self._local.ports = {}
        port = cache.get(actor)
        if port is None:
            if len(cache) >= PORTS_PER_THREAD:
                cache.clear()
            port = cache[actor] = self._new(actor)
        return port

    def _new(self, actor: Actor) -> GoogleCalendar:
        return GoogleCalendar(
            actor,
            self.credentials,
            root_url=self.root_url,
            timeout_s=self.timeout_s,
            on_call=self.on_call,
            http=self.http,
        )
