"""Every Google client sends a request exactly once: a write whose answer is lost is not re-sent.

Where it sits: ``tests/integration/lifecycle`` (the lifecycle's own clients: Data Transfer, ACL, Directory),
against the emulator on both databases. ``lost_rate`` applies the request, then drops the connection before
any answer byte; a transport that silently re-sends (httplib2 does on a dropped connection) would apply it
twice.
"""

from __future__ import annotations

import pytest
from sqlmodel import Session

from connectors.errors import RetriableError
from engine.store.models import Tenant
from tests.integration.lifecycle.conftest import Life

KEN, LINUS = "ken.allen5@acme.example", "linus.goldberg3@acme.example"


def _services(life: Life):  # type: ignore[no-untyped-def]
    with Session(life.engine) as db:
        tenant = db.get(Tenant, life.tenant_id)
        assert tenant is not None
        return life.wiring.services_for(tenant)


def test_a_data_transfer_whose_answer_is_lost_is_inserted_once(life: Life) -> None:
    services = _services(life)
    assert services.transfers is not None
    old, new = life.emu.world.users[KEN].id, life.emu.world.users[LINUS].id
    life.emu.faults([{"method": "POST", "path": "/admin/datatransfer/v1/transfers", "lost_rate": 1.0, "times": 1}])
    with pytest.raises(RetriableError):
        services.transfers.start(old, new, release_resources=False)
    life.emu.clear_faults()
    assert len(life.emu.world.extra.get("data_transfers", {})) == 1

