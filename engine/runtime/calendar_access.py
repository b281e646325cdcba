"""Builds the calendar port factory the reconciler uses: credentials, quota pacing and call metrics.

Where it sits: composition for the sync engine (called by :func:`engine.runtime.wiring.build_runtime`). The
Google connector is loaded by module name (like :mod:`engine.runtime.google_kit`), so the engine's import graph
stays free of ``googleapiclient`` (import-linter). Every port it returns is wrapped in
:class:`~engine.runtime.ratelimit.RateLimitedCalendar` with two buckets: the acting identity (whose per-user
quota the call is charged to, via ``quotaUser``) and the project (Muster's service account).

Stable interface: :func:`build_port_factory` (``oauth`` takes the credential source of OAuth actors,
which organizer delegation supplies) and :func:`service_account_info`.
"""

from __future__ import annotations

import importlib
from typing import Any

from connectors.ports.calendar import Actor, CalendarPort, CalendarPortFactory
from engine.runtime import metrics
from engine.runtime.ratelimit import Bucket, RateLimitedCalendar, RateLimiter
from engine.settings import Settings, read_service_account_key

#: Modules of the Google connector (loaded by name; see module docstring).
CALENDAR_MODULE = "connectors.google.calendar"
CREDENTIALS_MODULE = "connectors.google.credentials"


def service_account_info(settings: Settings) -> dict[str, str] | None:
    """Muster's service-account key, or ``None`` when none is configured."""
    if settings.google_service_account_file is None:
        return None
    return read_service_account_key(settings.google_service_account_file)


def build_port_factory(
    settings: Settings, *, limiter: RateLimiter, oauth: Any = None, timeout_s: float = 30.0
) -> CalendarPortFactory:
    """``Actor -> CalendarPort`` for this deployment (Google itself, or the emulator by root URL)."""
    creds_mod = importlib.import_module(CREDENTIALS_MODULE)
    cal_mod = importlib.import_module(CALENDAR_MODULE)
    info = service_account_info(settings)
    sa_source = None
    if info is not None:
        sa_source = creds_mod.ServiceAccountSource(
            info, token_uri=creds_mod.token_uri_for(settings.google_root_url)
        )
    source = creds_mod.CompositeSource(service_account=sa_source, oauth=oauth)
    google = cal_mod.GoogleCalendarFactory(
        source, root_url=settings.google_root_url, timeout_s=timeout_s, on_call=metrics.record_call
    )
    project = (info or {}).get("client_email") or "project"

    def factory(actor: Actor) -> CalendarPort:
        buckets = (
            Bucket(f"user:{actor.key}", settings.quota_user_per_minute),
            Bucket(f"project:{project}", settings.quota_project_per_minute, burst=20),
        )
        port: CalendarPort = google(actor)
        return RateLimitedCalendar(port, limiter, buckets)

    return factory
