"""Single real calls that tell whether an identity works in Google: the steps of "Test connection".

Where it sits: ``connectors.google``; :mod:`engine.admin.connection_check` runs these in order and turns each
:class:`Probe` into a line with a fix. Every function makes real requests (token endpoint, Calendar,
Directory) through google-auth and google-api-python-client, and never raises: failures come back as
``Probe(ok=False, code=…, detail=…)`` where ``code`` is Google's own (``unauthorized_client``,
``invalid_grant``, ``notACalendarUser``, ``insufficientPermissions`` …) so the engine can map it to a fix
without parsing HTTP.

Nothing here writes to a calendar: "can Meet be used" is read from the calendar's
``conferenceProperties.allowedConferenceSolutionTypes`` (Google answers "Invalid conference type value."
exactly when ``hangoutsMeet`` is missing there, reference §3.4/§3.5).

Every API request (``calendars.get``, ``events.list``, the Directory's ``resources.calendars.list``) first
takes a slot from the process's pacer (:mod:`connectors.google.pacing`) for the identity it acts as, in the
same buckets as the sync's own calls, and names that identity as ``quotaUser`` (Google charges the request
where Muster paced it, as the calendar connector does); a refused slot sends nothing and comes back as
``Probe(ok=False, code="throttled")``. The token endpoint is not an API request (Google's quotas do not
count it), so :func:`token` takes no slot, as a credential refresh inside a paced calendar call takes none.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import google_auth_httplib2
from google.auth.exceptions import RefreshError, TransportError
from googleapiclient.errors import HttpError

from connectors.errors import RetriableError
from connectors.google import pacing
from connectors.google.clients import build_service, service_account_credentials, user_credentials
from connectors.google.transport import SingleShotHttp
from connectors.ports.calendar import quota_user_for
from connectors.ports.delegation import Probe

MEET = "hangoutsMeet"


def _refresh_failure(exc: RefreshError) -> Probe:
    payload = exc.args[1] if len(exc.args) > 1 and isinstance(exc.args[1], dict) else {}
    code = str(payload.get("error") or "").strip() or str(exc.args[0]).split(":", 1)[0].strip()
    desc = str(payload.get("error_description") or exc.args[0])
    return Probe(False, code or "refresh_error", desc)


def _http_failure(exc: HttpError) -> Probe:
    reason = None
    details = exc.error_details
    if isinstance(details, list):
        for item in details:
            if isinstance(item, dict) and item.get("reason"):
                reason = str(item["reason"])
                break
    return Probe(False, reason or f"http{exc.status_code}", f"HTTP {exc.status_code}: {exc.reason}")


def _take_slot(identity: str | None) -> None:
    """A quota slot for one API request as ``identity``; raises a retryable error when none is free soon."""
    pacer = pacing.installed()
    if pacer is not None:
        pacer(identity)


def _charged_to(identity: str | None) -> dict[str, str]:
    """``quotaUser`` for requests as ``identity``: Google charges them to the bucket Muster paced them in."""
    return {"quotaUser": quota_user_for(identity)} if identity else {}


def _throttled(exc: RetriableError) -> Probe:
    wait = f" for {exc.delay:.0f} s" if exc.delay else ""
    return Probe(False, "throttled", f"Muster's quota pacing has no free slot{wait} ({exc}); nothing was sent")


def sa_credentials(
    info: dict[str, str], *, scopes: Sequence[str], subject: str | None, root_url: str | None
) -> Any:
    token_uri = (root_url.rstrip("/") + "/token") if root_url else None
    return service_account_credentials(info, scopes=scopes, subject=subject, token_uri=token_uri)


def oauth_credentials(
    *, refresh_token: str, client_id: str, client_secret: str, scopes: Sequence[str], root_url: str | None
) -> Any:
    if root_url:
        return user_credentials(
            refresh_token, client_id, client_secret, scopes, token_uri=root_url.rstrip("/") + "/token"
        )
    return user_credentials(refresh_token, client_id, client_secret, scopes)


def token(credentials: Any) -> Probe:
    """Mint an access token (JWT-bearer for a service account, refresh grant for OAuth)."""
    try:
        credentials.refresh(google_auth_httplib2.Request(SingleShotHttp(15.0)))
    except RefreshError as exc:
        return _refresh_failure(exc)
    except (TransportError, OSError) as exc:
        return Probe(False, "unreachable", f"token endpoint unreachable: {exc}")
    return Probe(True)


def calendar(
    credentials: Any, *, root_url: str | None, calendar_id: str = "primary", identity: str | None = None
) -> Probe:
    """Read the calendar (``calendars.get``); ``data`` is the Calendar resource (conferenceProperties...).

    ``identity`` is who the credentials act as: each request is paced in that identity's bucket."""
    service = build_service("calendar", "v3", root_url=root_url, credentials=credentials)
    try:
        _take_slot(identity)
        cal = service.calendars().get(calendarId=calendar_id, **_charged_to(identity)).execute()
        _take_slot(identity)
        service.events().list(calendarId=calendar_id, maxResults=1, **_charged_to(identity)).execute()
    except RetriableError as exc:  # only the pacer raises it here: the request was not sent
        return _throttled(exc)
    except HttpError as exc:
        return _http_failure(exc)
    except RefreshError as exc:
        return _refresh_failure(exc)
    except (TransportError, OSError) as exc:
        return Probe(False, "unreachable", str(exc))
    return Probe(True, data=cal)


def meet_allowed(calendar_resource: dict[str, Any]) -> Probe:
    """Whether Google would accept a Meet ``createRequest`` on this calendar."""
    types = (calendar_resource.get("conferenceProperties") or {}).get("allowedConferenceSolutionTypes") or []
    if MEET in types:
        return Probe(True)
    return Probe(False, "meetNotAllowed", f"allowed conference types: {', '.join(types) or 'none'}")


def rooms(
    credentials: Any, *, root_url: str | None, customer: str = "my_customer", identity: str | None = None
) -> Probe:
    """List one page of Directory rooms; ``data['count']`` is the number on that page.

    ``identity`` (the Directory admin the credentials act as) is the bucket the request is paced in."""
    service = build_service("admin", "directory_v1", root_url=root_url, credentials=credentials)
    try:
        _take_slot(identity)
        page = service.resources().calendars().list(customer=customer, maxResults=50, **_charged_to(identity)).execute()
    except RetriableError as exc:  # only the pacer raises it here: the request was not sent
        return _throttled(exc)
    except HttpError as exc:
        return _http_failure(exc)
    except RefreshError as exc:
        return _refresh_failure(exc)
    except (TransportError, OSError) as exc:
        return Probe(False, "unreachable", str(exc))
    return Probe(True, data={"count": len(page.get("items") or [])})
