"""Webhook URLs given as host names: resolved, refused on save when any address is internal, and checked
again by each delivery attempt, which connects to the address it checked (DNS rebinding).

Where it sits: units of :mod:`engine.webhooks.address` and of its two callers, tenant set-up
(:func:`engine.admin.tenant_setup.configure`, which every interface calls) and the real POST of a delivery
(:func:`engine.webhooks.delivery.httpx_post`), on both stacks. The test machine has no DNS of its own, so
names are answered by a resolver the test installs (:func:`engine.webhooks.address.set_resolver`), except
``localhost``, which the system resolver answers.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session

from engine.admin.tenant_setup import SetupError, configure
from engine.settings import Settings
from engine.store.models import Tenant
from engine.store.unit_of_work import unit_of_work
from engine.webhooks import address, emit
from engine.webhooks.delivery import deliver, pinned_post
from engine.webhooks.events import Promoted

SECRET = "addr-secret-" + "c" * 24
KEYS = ("k" * 40,)
PUBLIC = "93.184.215.14"
DNS: dict[str, list[str]] = {}


def _resolve(host: str, port: int) -> list[str]:
    if host not in DNS:
        raise OSError(f"[Errno -2] Name or service not known: {host}")
    return DNS[host]


@pytest.fixture(autouse=True)
def dns() -> Iterator[dict[str, list[str]]]:
    DNS.clear()
    DNS.update({"hooks.platform.test": [PUBLIC], "intranet.platform.test": ["10.1.2.3"],
                "metadata.platform.test": ["169.254.169.254"], "split.platform.test": [PUBLIC, "fd00::5"],
                "mapped.platform.test": ["::ffff:192.168.1.9"]})
    address.set_resolver(_resolve)
    yield DNS
    address.set_resolver(None)


@pytest.fixture
def tenant_id(db_engine: Engine) -> uuid.UUID:
    with unit_of_work(db_engine, dispatcher=lambda ids: None) as uow:
        tenant = Tenant(slug="acme", name="Acme")
        uow.db.add(tenant)
        uow.db.flush()
        return tenant.id


def _save(engine: Engine, tenant_id: uuid.UUID, url: str | None) -> None:
    with unit_of_work(engine, dispatcher=lambda ids: None) as uow:
        tenant = uow.db.get(Tenant, tenant_id)
        assert tenant is not None
        configure(uow, tenant, {"settings": {"webhooks": {"url": url}}, "webhook_secret": SECRET}, actor="test",
                  secret_keys=KEYS)


def _url(engine: Engine, tenant_id: uuid.UUID) -> str | None:
    with Session(engine) as db:
        tenant = db.get(Tenant, tenant_id)
        assert tenant is not None
        return ((tenant.settings or {}).get("webhooks") or {}).get("url")


@pytest.mark.parametrize(("host", "shown"), [
    ("intranet.platform.test", "10.1.2.3"),
    ("metadata.platform.test", "169.254.169.254"),
    ("split.platform.test", "fd00::5"),  # one internal address among public ones is enough
    ("mapped.platform.test", "::ffff:192.168.1.9"),
])
def test_a_name_resolving_to_an_internal_address_is_refused_on_save_naming_the_field_and_the_fix(
    db_engine: Engine, tenant_id: uuid.UUID, host: str, shown: str
) -> None:
    _save(db_engine, tenant_id, "https://hooks.platform.test/muster")
    with pytest.raises(SetupError) as refused:
        _save(db_engine, tenant_id, f"https://{host}/muster")
    assert refused.value.field == "settings.webhooks.url"
    assert f"{host} resolves to {shown}, an internal address" in refused.value.message
    assert "use the platform's public host name" in refused.value.message
    assert _url(db_engine, tenant_id) == "https://hooks.platform.test/muster"  # nothing saved is lost


def test_localhost_over_https_is_resolved_by_the_system_and_refused(db_engine: Engine, tenant_id: uuid.UUID) -> None:
    address.set_resolver(None)
    with pytest.raises(SetupError) as refused:
        _save(db_engine, tenant_id, "https://localhost:8443/muster")
    assert refused.value.field == "settings.webhooks.url" and "localhost resolves to 127.0.0.1" in refused.value.message


def test_public_names_names_that_do_not_resolve_yet_and_the_same_machine_allowance_are_saved(
    db_engine: Engine, tenant_id: uuid.UUID
) -> None:
    for url in ("https://hooks.platform.test/muster", "https://not-yet.platform.test/muster",
                "http://127.0.0.1:21399/muster-hooks", "http://localhost:21399/muster-hooks"):
        _save(db_engine, tenant_id, url)
        assert _url(db_engine, tenant_id) == url


def test_a_name_rebound_to_an_internal_address_after_the_save_is_refused_before_connecting(
    db_engine: Engine, tenant_id: uuid.UUID, dns: dict[str, list[str]]
) -> None:
    _save(db_engine, tenant_id, "https://hooks.platform.test/muster")
    dns["hooks.platform.test"] = ["10.0.0.7"]  # DNS rebinding: the name now points into the network
    with unit_of_work(db_engine) as uow:
        tenant = uow.db.get(Tenant, tenant_id)
        assert tenant is not None
        delivery_id = emit(uow.db, tenant=tenant, event=Promoted(
            session_external_id="s-1", session_id=uuid.uuid4(), email="b@x.example", replaces_email="a@x.example"))
        assert delivery_id is not None
    settings = Settings(database_url="sqlite://", redis_url=None, google_root_url=None,  # type: ignore[call-arg]
                        secret_key=KEYS[0], webhook_retry_min_ms=100, webhook_retry_max_ms=1_000)
    result = deliver(db_engine, delivery_id, settings=settings)  # the real POST
    assert result.outcome == "retry" and result.status_code is None
    assert "refused before connecting: hooks.platform.test resolves to 10.0.0.7, an internal address" in (
        result.error or "")


class _Seen(BaseHTTPRequestHandler):
    seen: list[tuple[str, str, bytes]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        _Seen.seen.append((self.path, self.headers.get("Host") or "", body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def test_the_attempt_connects_to_the_address_it_checked_and_names_the_host_in_the_request() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Seen)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        port = server.server_address[1]
        # "receiver.platform.test" resolves to nothing on this machine: only the pinned address is used
        target = address.Target(f"http://receiver.platform.test:{port}/hooks?x=1", "receiver.platform.test", port,
                                "127.0.0.1")
        status, _ = pinned_post(target, b'{"a":1}', {"Content-Type": "application/json"}, 5.0)
    finally:
        server.shutdown()
        server.server_close()
    assert status == 204
    assert _Seen.seen == [("/hooks?x=1", f"receiver.platform.test:{port}", b'{"a":1}')]
