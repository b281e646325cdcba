"""``GoogleChangeFeed``: the :class:`~connectors.ports.feed.ChangeFeedPort` on google-api-python-client.

Where it sits: ``connectors.google``, beside :mod:`connectors.google.calendar` (whose plumbing it shares:
credentials per actor, one single-shot transport, ``quotaUser``, errors classified once by
:func:`connectors.google.classify.call`). Built per acting identity by :class:`GoogleChangeFeedFactory`.

``list_changes`` follows the sync protocol of the reference §6.1: the same query on every call
(``showDeleted=true``, ``maxResults=2500``, no filters: ``privateExtendedProperty`` is refused with a
sync token), every ``nextPageToken`` followed (empty pages included), the ``nextSyncToken`` taken only
from the last page. A 410 ``fullSyncRequired`` is raised as ``SyncTokenExpiredError``; a repeated page
token or a last page without a sync token is a ``PermanentError`` / retryable ``badResponse``, never a loop.
``watch`` opens a ``web_hook`` channel with ``params.ttl``; ``stop_channel`` treats 404 as stopped.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from connectors.errors import ConnectorError, PermanentError
from connectors.google.calendar import GoogleCalendar, GoogleCalendarFactory, _unreadable, parsed_event
from connectors.google.classify import call
from connectors.ports.calendar import Actor
from connectors.ports.feed import Change, ChangeBatch, WatchedChannel

#: Events per page of a change listing (Google's maximum).
PAGE_SIZE = 2500


def change_of(calendar_id: str, item: Mapping[str, Any]) -> Change:
    """One listed item as a :class:`Change`; a bare tombstone (only ``id``) has no ``remote``."""
    event_id = item.get("id")
    if not isinstance(event_id, str) or not event_id:
        raise _unreadable("a changed event without an id", repr(item)[:200])
    status = str(item.get("status") or "confirmed")
    ext = item.get("extendedProperties")
    private_raw = ext.get("private") if isinstance(ext, Mapping) else None
    private = {str(k): str(v) for k, v in private_raw.items()} if isinstance(private_raw, Mapping) else {}
    series = item.get("recurringEventId")
    etag = item.get("etag")
    remote = None
    if "start" in item or status != "cancelled":
        remote = parsed_event(calendar_id, item)
    return Change(
        event_id=event_id,
        status=status,
        etag=str(etag) if etag is not None else None,
        series_id=str(series) if isinstance(series, str) else None,
        private=private,
        remote=remote,
    )


class GoogleChangeFeed(GoogleCalendar):
    """Change listing and push channels acting as one :class:`Actor`. Not shared between threads."""

    def _run_channels(self, method: str, make: Any) -> Any:
        outcome = "ok"
        try:
            return call(lambda: make(self._svc().channels()).execute(num_retries=0), self.actor.email)
        except ConnectorError as exc:
            outcome = exc.error_class
            raise
        finally:
            if self._on_call is not None:
                self._on_call(self.actor.key, method, outcome)

    def list_changes(self, calendar_id: str, sync_token: str | None) -> ChangeBatch:
        changes: list[Change] = []
        page_token: str | None = None
        seen: set[str] = set()
        pages = 0
        while True:

            def request(ev: Any, page: str | None = page_token) -> Any:
                params: dict[str, Any] = {
                    "calendarId": calendar_id,
                    "showDeleted": True,
                    "maxResults": PAGE_SIZE,
                    "quotaUser": self.actor.quota_user,
                }
                if sync_token is not None:
                    params["syncToken"] = sync_token
                if page is not None:
                    params["pageToken"] = page
                return ev.list(**params)

            answer = self._run("list", request)
            pages += 1
            items = answer.get("items") if isinstance(answer, Mapping) else None
            if not isinstance(answer, Mapping) or not isinstance(items, list | None):
                raise _unreadable("an event list was expected", repr(answer)[:200])
            changes.extend(change_of(calendar_id, item) for item in items or [] if isinstance(item, Mapping))
            page_token = answer.get("nextPageToken")
            if page_token:
                if not isinstance(page_token, str) or page_token in seen:
                    raise PermanentError(
                        f"Google repeated a page token while listing changes of {calendar_id}",
                        reason="paginationLoop",
                    )
                seen.add(page_token)
                continue
            token = answer.get("nextSyncToken")
            if not isinstance(token, str) or not token:
                raise _unreadable("the last page of a change listing carried no nextSyncToken", repr(token))
            return ChangeBatch(tuple(changes), token, pages, full=sync_token is None)

    def watch(
        self, calendar_id: str, channel_id: str, address: str, token: str, ttl_s: int
    ) -> WatchedChannel:
        body = {"id": channel_id, "type": "web_hook", "address": address, "token": token,
                "params": {"ttl": str(int(ttl_s))}}
        data = self._run(
            "watch",
            lambda ev: ev.watch(calendarId=calendar_id, body=body, quotaUser=self.actor.quota_user),
        )
        try:
            expiration = datetime.fromtimestamp(int(data["expiration"]) / 1000, UTC)
            return WatchedChannel(str(data["id"]), str(data["resourceId"]), expiration)
        except (KeyError, TypeError, ValueError) as exc:
            raise _unreadable("a channel was expected", repr(data)[:200]) from exc

    def stop_channel(self, channel_id: str, resource_id: str) -> None:
        try:
            self._run_channels(
                "stop",
                lambda ch: ch.stop(body={"id": channel_id, "resourceId": resource_id},
                                   quotaUser=self.actor.quota_user),
            )
        except PermanentError as exc:
            if exc.status == 404:
                return  # expired or already stopped: Google no longer knows it
            raise


class GoogleChangeFeedFactory(GoogleCalendarFactory):
    """``Actor -> GoogleChangeFeed`` sharing credentials and one transport (a ``ChangeFeedFactory``)."""

    def __call__(self, actor: Actor) -> GoogleChangeFeed:
        port = super().__call__(actor)
        assert isinstance(port, GoogleChangeFeed)
        return port

    def _new(self, actor: Actor) -> GoogleChangeFeed:
        return GoogleChangeFeed(
            actor,
            self.credentials,
            root_url=self.root_url,
            timeout_s=self.timeout_s,
            on_call=self.on_call,
            http=self.http,
        )
