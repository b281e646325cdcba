"""The one function that turns Google failures into :mod:`connectors.errors` classes.

Where it sits: ``connectors.google``; :mod:`connectors.google.calendar` wraps every call in
:func:`classified`. Everything Google, google-auth, httplib2 or the socket layer can raise ends up as
exactly one of ``RetriableError`` / ``PermanentError`` / ``AuthError`` / ``AlreadyExistsError``
(reference §7.2 catalogue, §8.2 token errors, §1.6 what Google's own client retries).
"""

from __future__ import annotations

import http.client
import json
import socket
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

import httplib2
from google.auth import exceptions as auth_exceptions
from googleapiclient.errors import HttpError

from connectors.errors import (
    AlreadyExistsError,
    AuthError,
    ConnectorError,
    PermanentError,
    RetriableError,
    StaleEtagError,
    SyncTokenExpiredError,
)

T = TypeVar("T")

#: 403 reasons Google asks clients to back off from (and retry).
RATE_LIMIT_REASONS = frozenset({"rateLimitExceeded", "userRateLimitExceeded"})
#: Calendar *product* limits: retrying soon is pointless; retry much later (seconds).
SLOW_QUOTA_REASONS = {"quotaExceeded": 600.0, "dailyLimitExceeded": 3600.0}
#: 410 reasons of a listing meaning "drop the sync token and list from scratch" (reference §6.1).
FULL_SYNC_REASONS = frozenset({"fullSyncRequired", "updatedMinTooLongAgo"})
#: 403 reasons meaning "this identity cannot act here".
AUTH_REASONS = frozenset({"notACalendarUser", "forbiddenForServiceAccounts", "authError"})
#: Token-endpoint errors that need a person (reconnect, re-authorize, fix the Admin console).
AUTH_TOKEN_ERRORS = frozenset(
    {
        "invalid_grant",
        "unauthorized_client",
        "access_denied",
        "admin_policy_enforced",
        "invalid_client",
        "deleted_client",
        "disabled_client",
        "org_internal",
        "invalid_scope",
        "invalid_request",
    }
)


def _error_details(exc: HttpError) -> tuple[str | None, str]:
    try:
        data = json.loads(exc.content.decode("utf-8", "replace"))
        err = data.get("error") or {}
        errors = err.get("errors") or [{}]
        reason = errors[0].get("reason")
        return (str(reason) if reason is not None else None), str(err.get("message") or exc.reason or "")
    except (ValueError, AttributeError, TypeError, LookupError):
        return None, str(getattr(exc, "reason", "") or "")


def _retry_after(exc: HttpError) -> float | None:
    raw = getattr(exc.resp, "get", lambda *_: None)("retry-after")
    try:
        return float(raw) if raw else None
    except ValueError:
        return None


def classify_http_error(exc: HttpError, identity: str | None) -> ConnectorError:
    status = int(exc.resp.status)
    reason, message = _error_details(exc)
    text = f"Google answered {status} {reason or ''}: {message}".replace("  ", " ")
    if status == 429 or (status == 403 and reason in RATE_LIMIT_REASONS):
        return RetriableError(
            text, delay=_retry_after(exc), reason=reason or "rateLimitExceeded", status=status
        )
    if status == 403 and reason in SLOW_QUOTA_REASONS:
        return RetriableError(text, delay=SLOW_QUOTA_REASONS[reason], reason=reason, status=status)
    if status >= 500 or status == 408:
        return RetriableError(text, delay=_retry_after(exc), reason=reason or "backendError", status=status)
    if status == 401 or (status == 403 and reason in AUTH_REASONS):
        return AuthError(
            f"{identity or 'the identity'} cannot act in Google Calendar: {text}",
            identity=identity,
            reason=reason or "authError",
            status=status,
        )
    if status == 410 and reason in FULL_SYNC_REASONS:
        return SyncTokenExpiredError(text, reason=reason, status=status)
    if status == 412:  # If-Match on an etag that is no longer current (reference §2.3)
        return StaleEtagError(text, reason=reason or "conditionNotMet", status=status)
    if status == 409 and reason in (None, "duplicate"):
        return AlreadyExistsError(text, reason="duplicate", status=status)
    return PermanentError(text, reason=reason, status=status)


def classify_refresh_error(exc: auth_exceptions.RefreshError, identity: str | None) -> ConnectorError:
    data = exc.args[1] if len(exc.args) > 1 and isinstance(exc.args[1], dict) else {}
    code = str(data.get("error") or str(exc.args[0] if exc.args else "").split(":", 1)[0]).strip()
    description = str(data.get("error_description") or exc)
    if not data.get("error") and "No access token in response" in str(exc.args[0] if exc.args else ""):
        # a 200 from the token endpoint without a token: an unreadable answer, not a refusal
        return RetriableError(f"unreadable answer from Google's token endpoint for {identity}: {description}",
                              reason="badResponse")
    if getattr(exc, "retryable", False) or code in (
        "internal_failure",
        "server_error",
        "temporarily_unavailable",
    ):
        return RetriableError(f"token endpoint busy for {identity}: {description}", reason=code or None)
    if code in AUTH_TOKEN_ERRORS or code:
        return AuthError(
            f"{identity or 'the identity'} cannot get a Google token: {code}: {description}",
            identity=identity,
            reason=code or "refreshError",
        )
    return RetriableError(f"token refresh failed for {identity}: {description}", reason="refreshError")


def classify(exc: BaseException, identity: str | None) -> ConnectorError | None:
    """The class of ``exc``, or ``None`` when it is not a Google/transport failure (a bug: re-raise)."""
    if isinstance(exc, ConnectorError):
        return exc
    if isinstance(exc, HttpError):
        return classify_http_error(exc, identity)
    if isinstance(exc, auth_exceptions.RefreshError):
        return classify_refresh_error(exc, identity)
    if isinstance(exc, auth_exceptions.TransportError):
        return RetriableError(f"token endpoint unreachable: {exc}", reason="transportError")
    if isinstance(exc, TimeoutError | socket.timeout):
        return RetriableError(f"Google did not answer in time: {exc}", reason="timeout")
    if isinstance(exc, http.client.HTTPException | httplib2.HttpLib2Error | ConnectionError | OSError):
        return RetriableError(
            f"connection to Google dropped: {type(exc).__name__}: {exc}", reason="connection"
        )
    if isinstance(exc, json.JSONDecodeError | UnicodeDecodeError) or (
        isinstance(exc, ValueError) and "JSON" in str(exc)
    ):
        return RetriableError(f"unreadable answer from Google: {exc}", reason="badResponse")
    if isinstance(exc, auth_exceptions.GoogleAuthError) or (
        isinstance(exc, TypeError | KeyError | AttributeError | IndexError) and _raised_in_google_auth(exc)
    ):
        # google-auth reading a token answer of the wrong shape (e.g. a list, or a number as the token)
        return RetriableError(
            f"unreadable answer from Google's token endpoint: {type(exc).__name__}: {exc}", reason="badResponse"
        )
    return None


def _raised_in_google_auth(exc: BaseException) -> bool:
    """True when ``exc`` was raised inside google-auth (parsing an answer), not in our own code."""
    tb = exc.__traceback__
    last = None
    while tb is not None:
        last = tb
        tb = tb.tb_next
    module = last.tb_frame.f_globals.get("__name__", "") if last is not None else ""
    return isinstance(module, str) and module.startswith(("google.auth", "google.oauth2"))


@contextmanager
def classified(identity: str | None) -> Iterator[None]:
    """Re-raise anything Google-shaped as its connector class (``from`` the original)."""
    try:
        yield
    except Exception as exc:
        err = classify(exc, identity)
        if err is None or err is exc:
            raise
        raise err from exc


def call(fn: Callable[[], T], identity: str | None) -> T:
    with classified(identity):
        return fn()
