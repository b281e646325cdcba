"""``muster tenant set`` for webhooks and the decline policy, then the engine using what was saved.

Where it sits: ``tests/cli``; SQLite and PostgreSQL (``db_engine``), the CLI run in process (the ``env`` and
``run`` helpers of test_tenant_setup_cli). The round trip: the secret and URL saved by the CLI are what a
delivery is signed with and sent to; the decline policy saved is what the answer recording decides with.
"""

from __future__ import annotations

import json
import time
import uuid

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from engine.settings import load_settings
from engine.store.models import Tenant
from engine.store.unit_of_work import unit_of_work
from engine.webhooks import emit
from engine.webhooks.delivery import deliver
from engine.webhooks.events import Promoted
from policies.answers import Action, AnswerChange, decide
from tests.cli.test_tenant_setup_cli import env, run  # noqa: F401  (the fixture is used by name)
from tests.webhook_receiver import verify

HOOK_SECRET = "cli-hook-secret-" + "4" * 24


def test_webhooks_and_the_decline_policy_from_the_cli_are_what_the_engine_uses(
    env: dict[str, str], db_engine: Engine, capsys: pytest.CaptureFixture[str]  # noqa: F811
) -> None:
    assert run(capsys, "tenant", "create", "--slug", "acme", "--name", "Acme", "--domain", "acme.example")[0] == 0
    # a URL without a secret, or a short secret, is refused naming the option and the fix; nothing is saved
    code, _out, err = run(capsys, "tenant", "set", "--slug", "acme", "--setting", "webhooks.url=https://p.example/h")
    assert code == 2 and "--webhook-secret" in err and "openssl rand -hex 32" in err
    code, _out, err = run(capsys, "tenant", "set", "--slug", "acme", "--webhook-secret", "short")
    assert code == 2 and "24 to" in err
    code, _out, err = run(capsys, "tenant", "set", "--slug", "acme", "--setting", "answers.on_decline=unenroll")
    assert code == 2 and "answers.on_decline" in err and "cancel_and_promote" in err
    code, out, err = run(
        capsys, "tenant", "set", "--slug", "acme", "--setting", "webhooks.url=https://platform.example/hooks",
        "--setting", "answers.on_decline=cancel_and_promote", "--webhook-secret", HOOK_SECRET,
    )
    assert code == 0, err
    assert "webhook_secret" in out and HOOK_SECRET not in out
    code, out, _err = run(capsys, "tenant", "show", "--slug", "acme")
    assert "webhook secret: set (never shown)" in out and HOOK_SECRET not in out
    assert '"on_decline": "cancel_and_promote"' in out
    code, out, _err = run(capsys, "tenant", "show", "--slug", "acme", "--json")
    shown = json.loads(out)
    assert shown["webhook_secret_set"] is True and shown["settings"]["webhooks"]["url"] == "https://platform.example/hooks"
    # the engine: the decline policy as saved, and a delivery sent to the saved URL, signed with the saved secret
    with Session(db_engine) as db:
        tenant = db.exec(select(Tenant).where(Tenant.slug == "acme")).one()
        assert decide(tenant.settings.get("answers"), AnswerChange("a@x", None, "declined", "enrolled")) \
            is Action.CANCEL_AND_PROMOTE
    with unit_of_work(db_engine, dispatcher=lambda ids: None) as uow:
        tenant = uow.db.exec(select(Tenant).where(Tenant.slug == "acme")).one()
        delivery_id = emit(uow.db, tenant=tenant, event=Promoted(
            session_external_id="s-1", session_id=uuid.uuid4(), email="b@acme.example",
            replaces_email="a@acme.example"))
        assert delivery_id is not None
    received: list[tuple[str, bytes, dict[str, str]]] = []

    def platform(url: str, body: bytes, headers: dict[str, str], _timeout: float) -> tuple[int, str]:
        received.append((url, body, {k.lower(): v for k, v in headers.items()}))
        return 200, ""

    result = deliver(db_engine, delivery_id, settings=load_settings(env), post=platform)
    assert result.outcome == "delivered"
    [(url, body, headers)] = received
    assert url == "https://platform.example/hooks"
    assert verify(HOOK_SECRET, headers, body, now=time.time())
    assert json.loads(body)["data"]["email"] == "b@acme.example"
    # removing the secret while the URL is set is refused; turning webhooks off first allows it
    code, _out, err = run(capsys, "tenant", "set", "--slug", "acme", "--webhook-secret", "")
    assert code == 2 and "required while settings.webhooks.url" in err
    code, out, err = run(capsys, "tenant", "set", "--slug", "acme", "--setting", "webhooks=default",
                         "--webhook-secret", "")
    assert code == 0, err
    code, out, _err = run(capsys, "tenant", "show", "--slug", "acme")
    assert "webhook secret: -" in out
