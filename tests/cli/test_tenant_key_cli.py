"""``muster tenant key``: a new REST API key, and rotation with ``--replace``; ``tenant create --key-name``.

Where it sits: ``tests/cli``; run in process against the test database (SQLite and PostgreSQL), the keys tried
against the real ingest API.
"""

from __future__ import annotations

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from engine.api.app import create_api
from engine.settings import load_settings
from engine.store.models import ApiKey, AuditEvent
from tests.api.conftest import AsgiClient
from tests.cli.test_tenant_setup_cli import env, run

__all__ = ["env"]


def test_a_key_is_rotated_by_name_and_the_old_one_stops_working(
    env: dict[str, str], db_engine: Engine, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, "tenant", "create", "--slug", "initech", "--name", "Initech",
                         "--vendor-owner", "owner1@vendor.example", "--key-name", "platform-prod")
    assert code == 0, err
    first = out.strip().splitlines()[-1]
    api = AsgiClient(create_api(load_settings(env), dispatcher=lambda ids: None))

    def works(key: str) -> bool:
        answer = api.request("GET", "/v1/sessions", headers={"Authorization": f"Bearer {key}"})
        assert answer.status_code in (200, 401), answer.text
        return answer.status_code == 200

    assert works(first)
    # Another key beside it (no --replace): both work
    code, out, err = run(capsys, "tenant", "key", "--slug", "initech", "--name", "platform-staging")
    assert code == 0, err
    staging = out.strip().splitlines()[-1]
    assert works(first) and works(staging)
    # Rotation: the new key of that name works, the old one is refused at once, the other name is untouched
    code, out, err = run(capsys, "tenant", "key", "--slug", "initech", "--name", "platform-prod", "--replace")
    assert code == 0 and "earlier keys of that name are revoked" in out, (out, err)
    second = out.strip().splitlines()[-1]
    assert second != first and works(second) and not works(first) and works(staging)
    with Session(db_engine) as db:
        names = sorted((k.name, k.revoked_at is None) for k in db.exec(select(ApiKey)).all())
        assert names == [("platform-prod", False), ("platform-prod", True), ("platform-staging", True)]
        audited = db.exec(select(AuditEvent).where(AuditEvent.action == "tenant.api_key")).all()
        assert [(a.actor, a.detail["name"], a.detail["replaced_same_name"]) for a in audited] == [
            ("cli", "platform-staging", False), ("cli", "platform-prod", True)]
    # Bad input: one line naming the option, exit 2
    code, out, err = run(capsys, "tenant", "key", "--slug", "nope")
    assert code == 2 and "no tenant 'nope'" in err and "--slug" in err, err
    code, out, err = run(capsys, "tenant", "key", "--slug", "initech", "--name", " ")
    assert code == 2 and "--name" in err, err
