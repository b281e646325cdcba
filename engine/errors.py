"""Error types of the sync engine (re-exported from :mod:`connectors.errors`) and what each one means here.

Where it sits: imported by the executor, the reconciler and the actors. Connectors classify every
failure once, at their boundary; the engine reacts to the class alone and never looks at status codes.

Hierarchy::

    ConnectorError
     ├── RetriableError(delay)   → binding ``error`` (retryable); dramatiq retries with exponential
     │                             backoff + jitter, or after ``delay`` seconds when Google hinted one
     └── PermanentError          → binding ``error`` (permanent) with the readable message; no retry
          ├── AuthError          → binding ``blocked``; the identity (vendor owner account or the
          │                        organizer's connection) is marked so the admin UI shows why; no
          │                        blind retries until someone fixes it
          └── AlreadyExistsError → not a failure for the executor: it adopts the existing event

``ConfigError`` (below) is the engine's own: the platform's data or the tenant's setup cannot produce
a valid event (no vendor owner account, no service-account key). It blocks the binding like AuthError.
"""

from __future__ import annotations

from connectors.errors import (
    AlreadyExistsError,
    AuthError,
    ConfigurationError,
    ConnectorError,
    PermanentError,
    RetriableError,
)

__all__ = [
    "AlreadyExistsError",
    "AuthError",
    "ConfigurationError",
    "ConnectorError",
    "PermanentError",
    "RetriableError",
    "SyncConfigError",
]


class SyncConfigError(PermanentError):
    """The tenant's sync setup is incomplete; the message names what to configure."""

    error_class = "config"
