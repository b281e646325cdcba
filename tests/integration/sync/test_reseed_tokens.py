"""The test harness's reseed keeps the access tokens long-lived workers hold, as Google keeps them.

Where it sits: ``tests/sync`` (shares the seeded emulator). The postgres stack's workers outlive a test; a
reseed that forgot their tokens made their first call of the next test a 401 plus a resend, so tests counting
calls per change saw two.
"""

from __future__ import annotations

import json

from connectors.google.calendar import GoogleCalendarFactory
from connectors.google.credentials import ServiceAccountSource, token_uri_for
from connectors.ports.calendar import Actor
from tests.integration.sync.conftest import OWNERS, Emu

OWNER = OWNERS[0]


def test_a_token_issued_before_a_reseed_is_used_after_it_without_a_401(emu: Emu) -> None:
    emu.reseed()
    source = ServiceAccountSource(json.loads(emu.key_file.read_text()), token_uri=token_uri_for(emu.url))
    port = GoogleCalendarFactory(source, root_url=emu.url, timeout_s=5)(Actor("vendor", OWNER))
    assert port.get(OWNER, "nosuchevent1") is None
    held = set(emu.world.access_tokens)
    assert held

    emu.reseed()
    emu.reset_counters()
    assert port.get(OWNER, "nosuchevent2") is None
    counters = emu.counters()
    routes = counters.get("by_route") or {}
    assert sum(v for v in routes.values() if isinstance(v, int)) == 1, routes  # one call, no 401 + resend
    assert "401" not in (counters.get("by_status") or {}), counters
    assert set(emu.world.access_tokens) == held


def test_a_revoked_token_does_not_survive_a_reseed(emu: Emu) -> None:
    emu.reseed()
    source = ServiceAccountSource(json.loads(emu.key_file.read_text()), token_uri=token_uri_for(emu.url))
    port = GoogleCalendarFactory(source, root_url=emu.url, timeout_s=5)(Actor("vendor", OWNER))
    assert port.get(OWNER, "nosuchevent1") is None
    assert emu.world.revoke_tokens_for(OWNER) >= 1
    revoked = {token for token, grant in emu.world.access_tokens.items() if grant.revoked}
    assert revoked
    emu.reseed()
    # other identities' live tokens (held by long-lived workers of earlier tests) may stay; the revoked ones go
    assert not revoked & set(emu.world.access_tokens)
