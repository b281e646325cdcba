"""Directory users and the Data Transfer API: what the organizer lifecycle asks Google.

Where it sits: ``connectors.google``, called by :mod:`engine.lifecycle` (detection scan and the
suspended-organizer transfer path). It wraps two Admin SDK services built by
:func:`connectors.google.clients.build_service`, both acting as the tenant's Directory admin (domain-wide
delegation with ``sub`` = ``Tenant.directory_admin_email``):

* ``admin directory_v1`` ``users.list`` / ``users.get`` (reference §5.1): suspended users are found with
  ``query=isSuspended=true``; deleted users with ``showDeleted=true``. Pages of 500 (the maximum).
* ``admin datatransfer_v1`` ``transfers.insert`` / ``transfers.get`` (reference §5.3) for the Calendar
  application ``435070579839`` with ``RELEASE_RESOURCES``.

Google's errors are classified here, once, into :mod:`connectors.errors` classes, so the engine never
looks at HTTP status codes. A user that does not exist is ``None``, not an error.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from connectors.errors import AuthError, PermanentError
from connectors.google.clients import build_service
from connectors.google.pacing import paced_call
from connectors.ports.lifecycle import CALENDAR_APPLICATION_ID, DirectoryUser, TransferStatus

#: Scopes the lifecycle needs on the Directory admin's delegation.
USER_SCOPES = ("https://www.googleapis.com/auth/admin.directory.user.readonly",)
TRANSFER_SCOPES = ("https://www.googleapis.com/auth/admin.datatransfer",)


def _call(fn: Callable[[], Any], identity: str | None) -> Any:
    """Run one Google call (paced); a 403 ``forbidden`` (not an administrator) is an :class:`AuthError`."""
    try:
        return paced_call(fn, identity)
    except PermanentError as err:
        if err.status == 403 and not isinstance(err, AuthError):
            raise AuthError(f"{identity or 'the Directory identity'} may not do this: {err}",
                            identity=identity, reason=err.reason, status=err.status) from err
        raise


class DirectoryUsers:
    """Directory ``users`` reads, over a built ``admin directory_v1`` service."""

    def __init__(self, directory: Any, *, customer: str = "my_customer", identity: str | None = None) -> None:
        self._svc = directory
        self._customer = customer
        self._identity = identity
        self.calls = 0  #: API requests made (benchmarks, tests)

    @classmethod
    def build(cls, *, root_url: str | None, credentials: Any, identity: str | None = None) -> DirectoryUsers:
        """Over ``admin directory_v1`` acting with ``credentials`` (the Directory admin's)."""
        return cls(
            build_service("admin", "directory_v1", root_url=root_url, credentials=credentials),
            identity=identity,
        )

    def _pages(self, **params: Any) -> Iterator[dict[str, Any]]:
        token: str | None = None
        seen: set[str] = set()
        while True:
            kwargs = dict(params, customer=self._customer, maxResults=500)
            if token:
                kwargs["pageToken"] = token
            self.calls += 1
            page = _call(self._svc.users().list(**kwargs).execute, self._identity)
            yield from page.get("users", [])
            token = page.get("nextPageToken")
            if not token or token in seen:  # a repeated token would loop forever
                return
            seen.add(token)

    def suspended(self) -> list[DirectoryUser]:
        """Every suspended user of the customer (``query=isSuspended=true``)."""
        return [DirectoryUser.from_json(u) for u in self._pages(query="isSuspended=true")]

    def deleted(self) -> list[DirectoryUser]:
        """Users deleted recently enough for Google to still list them (``showDeleted=true``)."""
        return [DirectoryUser.from_json(u, deleted=True) for u in self._pages(showDeleted="true")]

    def get(self, email: str) -> DirectoryUser | None:
        """One user by primary email or id; ``None`` when Google does not know it (404)."""
        self.calls += 1
        try:
            data = _call(self._svc.users().get(userKey=email).execute, self._identity)
        except PermanentError as err:
            if err.status == 404 or err.reason == "notFound":
                return None
            raise
        return DirectoryUser.from_json(data)


class CalendarDataTransfers:
    """Data Transfer API calls for the Calendar application, over a built ``admin datatransfer_v1``."""

    def __init__(self, datatransfer: Any, *, identity: str | None = None) -> None:
        self._svc = datatransfer
        self._identity = identity
        self.calls = 0  #: API requests made (benchmarks, tests)

    @classmethod
    def build(
        cls, *, root_url: str | None, credentials: Any, identity: str | None = None
    ) -> CalendarDataTransfers:
        """Over ``admin datatransfer_v1`` acting with ``credentials`` (an admin with Data Transfer rights)."""
        return cls(
            build_service("admin", "datatransfer_v1", root_url=root_url, credentials=credentials),
            identity=identity,
        )

    def start(self, old_owner_id: str, new_owner_id: str, *, release_resources: bool) -> TransferStatus:
        """Ask Google to move the old owner's future primary-calendar events to the new owner."""
        params = [{"key": "RELEASE_RESOURCES", "value": ["TRUE"]}] if release_resources else []
        app: dict[str, Any] = {"applicationId": CALENDAR_APPLICATION_ID}
        if params:
            app["applicationTransferParams"] = params
        body = {
            "oldOwnerUserId": old_owner_id,
            "newOwnerUserId": new_owner_id,
            "applicationDataTransfers": [app],
        }
        self.calls += 1
        request = self._svc.transfers().insert(body=body)
        return TransferStatus.from_json(_call(request.execute, self._identity))

    def get(self, transfer_id: str) -> TransferStatus:
        self.calls += 1
        request = self._svc.transfers().get(dataTransferId=transfer_id)
        return TransferStatus.from_json(_call(request.execute, self._identity))
