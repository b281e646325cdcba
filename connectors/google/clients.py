"""The one place that builds real Google API clients and credentials, for Google or any emulator URL.

Where it sits: ``connectors.google``; production adapters and tests both call :func:`build_service`.
It uses the discovery documents bundled with google-api-python-client (no network;
:func:`connectors.discovery.discovery_doc`) and, when a
``root_url`` is given, replaces the document's ``rootUrl`` (dropping ``mtlsRootUrl``) so that normal
calls *and* ``new_batch_http_request()`` reach the same server (reference §1.2; ``client_options``'s
``api_endpoint`` would leave batches pointed at www.googleapis.com).
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

import google_auth_httplib2
from google.oauth2 import credentials as user_creds
from google.oauth2 import service_account
from googleapiclient.discovery import build_from_document

from connectors.discovery import discovery_doc
from connectors.google.transport import SingleShotHttp

GOOGLE_TOKEN_URI = "https://oauth2.googleapis.com/token"

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
    return build_from_document(copy.copy(doc), **kwargs)


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
