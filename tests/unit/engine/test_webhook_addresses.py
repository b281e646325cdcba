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
from engine.store.models import Tenant, WebhookDelivery, WebhookStatus
from engine.store.unit_of_work import unit_of_work
from engine.webhooks import address, emit
from engine.webhooks.delivery import deliver, pinned_post
from engine.webhooks.events import Promoted
from engine.webhooks.outbox import replay

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


def _save(engine: Engine, tenant_id: uuid.UUID, url: str | None, *, allow_loopback: bool = False) -> None:
    with unit_of_work(engine, dispatcher=lambda ids: None) as uow:
        tenant = uow.db.get(Tenant, tenant_id)
        assert tenant is not None
        configure(uow, tenant, {"settings": {"webhooks": {"url": url}}, "webhook_secret": SECRET}, actor="test",
                  secret_keys=KEYS, allow_loopback_webhooks=allow_loopback)


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
    for url in ("https://hooks.platform.test/muster", "https://not-yet.platform.test/muster"):
        _save(db_engine, tenant_id, url)
        assert _url(db_engine, tenant_id) == url
    for url in ("http://127.0.0.1:21399/muster-hooks", "http://localhost:21399/muster-hooks",
                "http://[::1]:21399/muster-hooks"):  # only where MUSTER_WEBHOOKS_ALLOW_LOOPBACK is on
        _save(db_engine, tenant_id, url, allow_loopback=True)
        assert _url(db_engine, tenant_id) == url


@pytest.mark.parametrize("url", ["http://127.0.0.1:21399/muster-hooks", "http://localhost:21399/muster-hooks",
                                 "http://[::1]:21399/muster-hooks", "http://LOCALHOST/muster-hooks"])
def test_a_loopback_url_is_refused_on_save_unless_the_deployment_allows_it(
    db_engine: Engine, tenant_id: uuid.UUID, url: str
) -> None:
    _save(db_engine, tenant_id, "https://hooks.platform.test/muster")
    with pytest.raises(SetupError) as refused:
        _save(db_engine, tenant_id, url)
    assert refused.value.field == "settings.webhooks.url"
    assert "points at Muster's own machine (loopback)" in refused.value.message
    assert "MUSTER_WEBHOOKS_ALLOW_LOOPBACK=1" in refused.value.message
    assert "use the platform's public https:// URL" in refused.value.message
    assert _url(db_engine, tenant_id) == "https://hooks.platform.test/muster"  # nothing saved is lost


def _promoted(engine: Engine, tenant_id: uuid.UUID) -> uuid.UUID:
    with unit_of_work(engine) as uow:
        tenant = uow.db.get(Tenant, tenant_id)
        assert tenant is not None
        delivery_id = emit(uow.db, tenant=tenant, event=Promoted(
            session_external_id="s-1", session_id=uuid.uuid4(), email="b@x.example", replaces_email="a@x.example"))
        assert delivery_id is not None
        return delivery_id


def _settings(**kw: object) -> Settings:
    return Settings(database_url="sqlite://", redis_url=None, google_root_url=None,  # type: ignore[arg-type]
                    secret_key=KEYS[0], webhook_retry_min_ms=100, webhook_retry_max_ms=1_000, **kw)


def test_a_loopback_url_saved_while_allowed_is_parked_by_a_deployment_that_does_not_allow_it(
    db_engine: Engine, tenant_id: uuid.UUID
) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Seen)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    _Seen.seen.clear()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/hooks"
        _save(db_engine, tenant_id, url, allow_loopback=True)
        delivery_id = _promoted(db_engine, tenant_id)
        result = deliver(db_engine, delivery_id, settings=_settings())  # the real POST; loopback not allowed
        assert result.outcome == "parked" and result.status_code is None
        assert f"{url} points at Muster's own machine (loopback)" in (result.error or "")
        assert "MUSTER_WEBHOOKS_ALLOW_LOOPBACK=1" in (result.error or "")
        assert _Seen.seen == []  # nothing was sent to the machine's own service
        with Session(db_engine) as db:
            row = db.get(WebhookDelivery, delivery_id)
            assert row is not None
            assert (row.status, row.attempts, row.last_error) == (WebhookStatus.PARKED.value, 0, result.error)
        # the same delivery under a deployment that allows loopback (after a replay) is sent
        with unit_of_work(db_engine) as uow:
            assert replay(db=uow.db, tenant_id=tenant_id, delivery_id=delivery_id, actor="test")
        assert deliver(db_engine, delivery_id, settings=_settings(webhooks_allow_loopback=True)).outcome == "delivered"
        assert len(_Seen.seen) == 1
    finally:
        server.shutdown()
        server.server_close()
        _Seen.seen.clear()


def test_saving_another_url_sends_the_deliveries_parked_for_a_refused_loopback_url(
    db_engine: Engine, tenant_id: uuid.UUID
) -> None:
    _save(db_engine, tenant_id, "http://127.0.0.1:21399/muster-hooks", allow_loopback=True)
    delivery_id = _promoted(db_engine, tenant_id)
    assert deliver(db_engine, delivery_id, settings=_settings(), post=lambda u, b, h, t: (204, "")).outcome == "parked"
    _save(db_engine, tenant_id, "https://hooks.platform.test/muster")
    with Session(db_engine) as db:
        row = db.get(WebhookDelivery, delivery_id)
        assert row is not None and row.status == WebhookStatus.PENDING.value
    sent: list[str] = []

    def platform(url: str, body: bytes, headers: dict[str, str], timeout_s: float) -> tuple[int, str]:
        sent.append(url)
        return 204, ""

    result = deliver(db_engine, delivery_id, settings=_settings(), post=platform)
    assert result.outcome == "delivered" and sent == ["https://hooks.platform.test/muster"]


def test_the_loopback_setting_is_read_from_the_environment_and_off_by_default() -> None:
    from engine.settings import ConfigError, load_settings

    base = {"MUSTER_DATABASE_URL": "sqlite://", "MUSTER_SECRET_KEY": KEYS[0]}
    assert load_settings(base).webhooks_allow_loopback is False
    assert load_settings({**base, "MUSTER_WEBHOOKS_ALLOW_LOOPBACK": "0"}).webhooks_allow_loopback is False
    assert load_settings({**base, "MUSTER_WEBHOOKS_ALLOW_LOOPBACK": "1"}).webhooks_allow_loopback is True
    with pytest.raises(ConfigError) as bad:
        load_settings({**base, "MUSTER_WEBHOOKS_ALLOW_LOOPBACK": "maybe"})
    assert bad.value.variable == "MUSTER_WEBHOOKS_ALLOW_LOOPBACK" and "set it to 1 (on) or 0 (off)" in str(bad.value)


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
