"""A 404/410 on a read or a delete is Google's answer that the event is not there, not a failed call.

Where it sits: ``tests/integration/sync``, through the real Google client against the emulator. The calendar
port observes each call (``on_call``); a missing event is observed as ``not_found``, which the composition
root logs at INFO and the Health page's per-identity figures do not count as a failure, so a reconcile that
finds an event gone (a fresh emulator, an event deleted by hand) prints no warning for it.
"""

from __future__ import annotations

import json
import logging
import uuid

import pytest

from connectors.google.calendar import GoogleCalendarFactory
from connectors.google.credentials import ServiceAccountSource, token_uri_for
from connectors.ports.calendar import Actor
from engine.runtime import metrics
from engine.runtime.wiring import observe_call
from tests.integration.sync.conftest import OWNERS, Emu


def test_a_missing_event_is_observed_as_not_found_and_logged_without_a_warning(
    emu: Emu, caplog: pytest.LogCaptureFixture
) -> None:
    seen: list[tuple[str, str]] = []
    source = ServiceAccountSource(json.loads(emu.key_file.read_text()), token_uri=token_uri_for(emu.url))
    factory = GoogleCalendarFactory(source, root_url=emu.url, on_call=lambda _who, m, o: seen.append((m, o)))
    port = factory(Actor("vendor", OWNERS[0]))
    missing = "nosuch" + uuid.uuid4().hex[:10]
    assert port.get(OWNERS[0], missing) is None
    port.delete(OWNERS[0], missing, send_updates="none")
    assert seen == [("get", "not_found"), ("delete", "not_found")]
    metrics.reset()
    tenant = uuid.uuid4()
    with caplog.at_level(logging.INFO, logger="engine.runtime.wiring"), metrics.tenant_scope(tenant, "acme"):
        observe_call(OWNERS[0], "get", "not_found")
        observe_call(OWNERS[0], "insert", "auth")
    levels = [(r.getMessage(), r.levelno) for r in caplog.records if r.name == "engine.runtime.wiring"]
    assert levels == [("google calendar.events.get: not_found", logging.INFO),
                      ("google calendar.events.insert: auth", logging.WARNING)]
    # the Health page's per-identity figures: two calls, one error (the refused insert, not the missing event)
    use = metrics._identity_use.of(str(tenant))
    assert (use.get(f"{OWNERS[0]}.calls"), use.get(f"{OWNERS[0]}.errors")) == (2, 1), use
    metrics.reset()
