"""Engine-neutral error types every connector raises, classified once at the connector boundary.

Where it sits: ``connectors`` (bottom layer). Each connector maps its transport's failures (HTTP
status, Google ``errors[0].reason``, token-endpoint answers, dropped connections) to exactly one of
these classes; :mod:`engine.errors` re-exports them and the engine reacts to the *class* alone. The
reconciler never inspects a status code.

Hierarchy::

    ConnectorError
     ├── RetriableError(delay)        the same call may succeed later: 429, rate-limit 403s, 5xx,
     │                                timeouts, dropped connections, token endpoint 5xx
     │    └── StaleEtagError          412 ``conditionNotMet``: a write sent with ``If-Match`` met an event
     │                                someone else changed since; read it, re-plan, write again
     └── PermanentError               retrying the same call will fail the same way: other 4xx
          ├── AuthError               the identity cannot act: invalid_grant, unauthorized_client,
          │                           notACalendarUser, 401 after refresh, forbiddenForServiceAccounts
          ├── AlreadyExistsError      insert with an id that exists (409 duplicate); the executor
          │                           adopts the existing event instead of failing
          └── SyncTokenExpiredError   410 ``fullSyncRequired`` / ``updatedMinTooLongAgo`` on a listing:
                                      the change feed drops the token and resyncs that calendar

Not errors: a 404 from ``get`` is ``None``; a 404/410 from ``delete`` means "already gone".

Stable interface (used by the engine and by every connector): the class names, ``RetriableError.delay``
(seconds or ``None`` for "use the retry policy's backoff"), ``ConnectorError.reason`` (Google's short
reason, e.g. ``"rateLimitExceeded"``), ``ConnectorError.status`` (HTTP status or ``None``),
``AuthError.identity`` (the Google identity that failed) and ``ConnectorError.error_class``.
"""

from __future__ import annotations


class ConnectorError(Exception):
    """Base of every classified connector failure. ``str(err)`` is a readable sentence."""

    #: Short label stored on bindings and used in metrics: retryable | permanent | auth | exists.
    error_class = "permanent"

    def __init__(self, message: str, *, reason: str | None = None, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.reason = reason
        self.status = status


class RetriableError(ConnectorError):
    """Try again later. ``delay`` (seconds) is the server's hint, or ``None`` for exponential backoff."""

    error_class = "retryable"

    def __init__(
        self,
        message: str,
        *,
        delay: float | None = None,
        reason: str | None = None,
        status: int | None = None,
    ) -> None:
        super().__init__(message, reason=reason, status=status)
        self.delay = delay


class StaleEtagError(RetriableError):
    """Google refused a conditional write (``If-Match`` on an etag that is no longer current: 412).

    The event changed in Google since Muster last saw it. The reconciler reads it and plans again; anywhere
    else it is an ordinary retryable error (the retry reads first)."""

    error_class = "conflict"


class PermanentError(ConnectorError):
    """The call cannot succeed as made; record it with its message and stop retrying."""

    error_class = "permanent"


class AuthError(PermanentError):
    """The identity cannot act in Google until someone fixes configuration or reconnects."""

    error_class = "auth"

    def __init__(
        self,
        message: str,
        *,
        identity: str | None = None,
        reason: str | None = None,
        status: int | None = None,
    ) -> None:
        super().__init__(message, reason=reason, status=status)
        self.identity = identity


class ConfigurationError(PermanentError):
    """Muster's own set-up is at fault, not Google and not the identity (e.g. a stored credential cannot be
    decrypted with the configured keys). Nobody's connection is blamed or marked expired; the session
    records a ``config`` error and the periodic sweep tries again, so it heals once the set-up is fixed."""

    error_class = "config"


class AlreadyExistsError(PermanentError):
    """An insert met an existing object with the same id (Google 409 ``duplicate``)."""

    error_class = "exists"


class SyncTokenExpiredError(PermanentError):
    """Google no longer accepts the sync token (410 ``fullSyncRequired``): list the calendar from scratch."""

    error_class = "resync"
