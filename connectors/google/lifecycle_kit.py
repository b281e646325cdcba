"""The organizer lifecycle's Google implementation: Directory users, Data Transfer and calendar sharing.

Where it sits: ``connectors.google``; implements :class:`connectors.ports.lifecycle.LifecycleKit`. The
composition root hands it out (:func:`engine.runtime.wiring.lifecycle_kit`), like
:mod:`connectors.google.kit`. Directory and Data
Transfer calls act as the tenant's Directory admin through domain-wide delegation (``sub`` = the admin);
calendar sharing acts as the calendar's owner through the sync's own credential source.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from connectors.google.calendar_sharing import GoogleCalendarSharingFactory
from connectors.google.clients import service_account_credentials
from connectors.google.credentials import token_uri_for
from connectors.google.directory_users import (
    TRANSFER_SCOPES,
    USER_SCOPES,
    CalendarDataTransfers,
    DirectoryUsers,
)
from connectors.ports.calendar import Actor
from connectors.ports.delegation import CredentialSourceLike
from connectors.ports.lifecycle import CalendarSharingPort


def _admin_credentials(info: dict[str, Any], admin_email: str, scopes: tuple[str, ...],
                       root_url: str | None) -> Any:
    return service_account_credentials(info, scopes=scopes, subject=admin_email,
                                       token_uri=token_uri_for(root_url))


def directory_users(*, service_account_info: dict[str, Any], admin_email: str,
                    root_url: str | None) -> DirectoryUsers:
    """Directory ``users`` reads as ``admin_email`` (scope ``admin.directory.user.readonly``)."""
    creds = _admin_credentials(service_account_info, admin_email, USER_SCOPES, root_url)
    return DirectoryUsers.build(root_url=root_url, credentials=creds, identity=admin_email)


def data_transfers(*, service_account_info: dict[str, Any], admin_email: str,
                   root_url: str | None) -> CalendarDataTransfers:
    """Data Transfer calls as ``admin_email`` (scope ``admin.datatransfer``)."""
    creds = _admin_credentials(service_account_info, admin_email, TRANSFER_SCOPES, root_url)
    return CalendarDataTransfers.build(root_url=root_url, credentials=creds, identity=admin_email)


def sharing_factory(source: CredentialSourceLike, *,
                    root_url: str | None) -> Callable[[Actor], CalendarSharingPort]:
    """``Actor -> CalendarSharingPort`` using the sync's credential source."""
    return GoogleCalendarSharingFactory(source, root_url=root_url)
