"""The sync engine counts its work per tenant: the figures the Health page shows for one tenant only.

Where it sits: ``tests/integration/sync``, SQLite + embedded worker against the emulator. A real reconcile
(:mod:`engine.sync.reconciler`) runs inside :func:`engine.runtime.metrics.tenant_scope`, so the Google calls
it makes are counted under the session's tenant and under no other.
"""

from __future__ import annotations

import uuid

from engine.runtime import metrics
from tests.integration.sync.conftest import Stack, organizers, people, session_body


def test_reconcile_counts_calls_under_the_sessions_tenant(sqlite_stack: Stack) -> None:
    stack = sqlite_stack
    stack.put_session("m-1", session_body(hosts=organizers()[:1], enrolled=people("l", 2)))
    stack.idle()
    binding = stack.binding(stack.session_id("m-1"))
    assert binding is not None and binding.sync_status == "synced" and binding.owner_email
    own = metrics.snapshot(stack.tenant_id)
    assert own["google.insert.ok"] >= 1 and own["reconcile.success"] >= 1
    assert own[f"identity.{binding.owner_email}.calls"] >= 1
    someone_else = metrics.snapshot(uuid.uuid4())
    assert someone_else["google.calls"] == 0 and not any(k.startswith("identity.") for k in someone_else)
    # The deployment-wide view still adds everything up.
    assert metrics.snapshot()["google.calls"] >= own["google.calls"]
