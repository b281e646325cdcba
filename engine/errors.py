"""Error types of the sync engine (re-exported from :mod:`connectors.errors`) and what each one means here.

Where it sits: imported by the executor, the reconciler and the actors. Connectors classify every
failure once, at their boundary; the engine reacts to the class alone and never looks at status codes.

Hierarchy::

    ConnectorError
     ├── RetriableError(delay)   → binding ``error`` (retryable); dramatiq retries with exponential
     │                             backoff + jitter, or after ``delay`` seconds when Google hinted one
     │    └── StaleEtagError     → 412 on a write sent with If-Match: the reconciler reads the event,
     │                             plans again and writes (the event changed in Google meanwhile)
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
    StaleEtagError,
)
from policies.schema import SettingError

__all__ = [
    "AlreadyExistsError",
    "AuthError",
    "ConfigurationError",
    "ConnectorError",
    "PermanentError",
    "RetriableError",
    "StaleEtagError",
    "SyncConfigError",
    "TenantSettingInvalid",
    "config_error_message",
]


class SyncConfigError(PermanentError):
    """The tenant's sync setup is incomplete; the message names what to configure."""

    error_class = "config"


def config_error_message(tenant_slug: str, exc: SettingError) -> str:
    """The one line shown in REST, the UI and the CLI for a stored setting the schema refuses."""
    return (
        f"config_error: tenant setting {exc.field}: {exc.message}. Nothing is synced until it is fixed: "
        f"save it again on the Integration page, PATCH /v1/admin/tenant, or `muster tenant set --slug "
        f"{tenant_slug} --setting {exc.field.split('.')[0]}=default`"
    )


class TenantSettingInvalid(Exception):
    """A read that needs a tenant's settings found one the schema refuses; ``str()`` is the one line to
    show (:func:`config_error_message`), never a silent fallback to the defaults."""

    def __init__(self, tenant_slug: str, error: SettingError) -> None:
        self.tenant_slug = tenant_slug
        self.error = error
        super().__init__(config_error_message(tenant_slug, error))
