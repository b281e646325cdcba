"""The one place that builds real Google API clients and credentials, for Google or any emulator URL.

Where it sits: ``connectors.google``; production adapters and tests both call :func:`build_service`.
It uses the discovery documents bundled with google-api-python-client (no network;
:func:`connectors.discovery.discovery_doc`) and, when a
``root_url`` is given, replaces the document's ``rootUrl`` (dropping ``mtlsRootUrl``) so that normal
calls *and* ``new_batch_http_request()`` reach the same server (reference §1.2; ``client_options``'s
``api_endpoint`` would leave batches pointed at www.googleapis.com).

Every request of every client built here is an :class:`ObservedRequest`: once answered (or failed without an
answer), it tells the observer installed by :func:`observe_requests` (the composition root installs the
metrics' one) its API method (``calendar.events.insert``, ``directory.users.list``, ...), its HTTP status
(``200``, ``404``, ...; ``timeout``, ``connection``, ``token_error`` or ``bad_response`` when no usable answer
came) and its outcome (``ok`` or the error class of :mod:`connectors.google.classify`).
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable, Sequence
from typing import Any

import google_auth_httplib2
from google.auth import exceptions as auth_exceptions
from google.oauth2 import credentials as user_creds
from google.oauth2 import service_account
from googleapiclient.discovery import build_from_document
from googleapiclient.http import HttpRequest

from connectors.discovery import discovery_doc
from connectors.google.classify import classify
from connectors.google.transport import SingleShotHttp

log = logging.getLogger(__name__)

GOOGLE_TOKEN_URI = "https://oauth2.googleapis.com/token"

#: Observer of each Google API request: ``(api_method, status, outcome)``, every value bounded.
RequestObserver = Callable[[str, str, str], None]
_observer: RequestObserver | None = None
#: The ``status`` of a request that got no usable HTTP answer, by the classified reason.
_NO_ANSWER = {"timeout": "timeout", "connection": "connection", "badResponse": "bad_response"}


def observe_requests(observer: RequestObserver | None) -> None:
    """Install the observer every :class:`ObservedRequest` reports to (``None``: none)."""
    global _observer
    _observer = observer


def _no_answer_status(exc: BaseException, reason: str | None) -> str:
    if isinstance(exc, auth_exceptions.GoogleAuthError):
        return "token_error"
    return _NO_ANSWER.get(reason or "", "error")


class ObservedRequest(HttpRequest):  # type: ignore[misc]  # googleapiclient has no type hints
    """googleapiclient's request, reporting each execution to the installed :data:`RequestObserver`."""

    def execute(self, http: Any = None, num_retries: int = 0) -> Any:
        observer = _observer
        if observer is None:
            return super().execute(http=http, num_retries=num_retries)
        answered: list[int] = []

        def note(resp: Any) -> None:
            answered.append(int(resp.status))

        self.response_callbacks.append(note)
        method = str(self.methodId or "unknown")
        try:
            result = super().execute(http=http, num_retries=num_retries)
        except Exception as exc:
            classified = classify(exc, None)
            outcome = classified.error_class if classified is not None else "error"
            if answered and answered[-1] >= 300:
                status = str(answered[-1])
            elif answered:  # a 2xx whose body could not be read
                status = "bad_response"
            else:
                status = _no_answer_status(exc, getattr(classified, "reason", None))
            _report(observer, method, status, outcome)
            raise
        finally:
            self.response_callbacks.remove(note)
        _report(observer, method, str(answered[-1]) if answered else "200", "ok")
        return result


def _report(observer: RequestObserver, method: str, status: str, outcome: str) -> None:
    try:
        observer(method, status, outcome)
    except Exception:  # an observer never breaks a Google call
        log.warning("the Google request observer failed", exc_info=True)

def build_service(
    api: str,
    version: str,
    *,
    root_url: str | None,
    credentials: Any = None,
    http: Any = None,
    timeout_s: float = 30.0,
) -> Any:
    """A googleapiclient ``Resource`` for ``api``/``version``.

    ``root_url`` like ``"http://127.0.0.1:8765/"`` points every call (batch included) at that server;
    ``None`` means Google itself. Pass either ``credentials`` or an authorized ``http``, not both. With
    ``credentials`` the requests go through :class:`~connectors.google.transport.SingleShotHttp` (sent
    exactly once, never silently re-sent), as every other Google client of Muster's does.
    """
    base = discovery_doc(api, version)
    doc = dict(base)  # shallow copy: only top-level keys are replaced
    if root_url is not None:
        if not root_url.endswith("/"):
            root_url += "/"
        doc["rootUrl"] = root_url
        doc.pop("mtlsRootUrl", None)
        doc["baseUrl"] = root_url + str(base.get("servicePath", ""))
    kwargs: dict[str, Any] = {}
    if http is not None:
        kwargs["http"] = http
    elif credentials is not None:
        kwargs["http"] = google_auth_httplib2.AuthorizedHttp(credentials, http=SingleShotHttp(timeout_s))
    return build_from_document(copy.copy(doc), requestBuilder=ObservedRequest, **kwargs)


def service_account_credentials(
    info: dict[str, Any], *, scopes: Sequence[str], subject: str | None = None, token_uri: str | None = None
) -> service_account.Credentials:
    """Service-account credentials from a key file's JSON, optionally impersonating ``subject`` (DWD).

    ``token_uri`` overrides the key's (e.g. ``http://127.0.0.1:PORT/token`` for the emulator); the JWT
    audience stays Google's constant, as google-auth always sends it.
    """
    data = dict(info)
    if token_uri is not None:
        data["token_uri"] = token_uri
    data.setdefault("token_uri", GOOGLE_TOKEN_URI)
    factory = service_account.Credentials.from_service_account_info
    creds: service_account.Credentials = factory(data, scopes=list(scopes))  # type: ignore[no-untyped-call]
    if subject is not None:
        creds = creds.with_subject(subject)  # type: ignore[no-untyped-call]
    return creds


def user_credentials(
    refresh_token: str,
    client_id: str,
    client_secret: str,
    scopes: Sequence[str],
    token_uri: str = GOOGLE_TOKEN_URI,
) -> user_creds.Credentials:
    """OAuth user credentials that mint access tokens from a stored refresh token."""
    return user_creds.Credentials(  # type: ignore[no-untyped-call]
        token=None,
        refresh_token=refresh_token,
        token_uri=token_uri,
        client_id=client_id,
        client_secret=client_secret,
        scopes=list(scopes),
    )
