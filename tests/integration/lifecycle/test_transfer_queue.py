"""Requested transfers start at once through the ``transfer_person`` actor, not at the next periodic pass.

Where it sits: ``tests/lifecycle``. On PostgreSQL + Redis a real ``muster worker`` process consumes the
actor's messages (sent by the REST API's process after commit); on the embedded path the in-process
worker does. Both prove that an announced departure and a fallback owner connecting start the transfer
promptly: the worker process's periodic lifecycle pass is kept from running while the test runs (its clock
key is held, as another process running that pass would hold it), so only the actor can have moved them.
"""

from __future__ import annotations

import html
import os
import re
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from sqlmodel import select

from engine.delegation.oauth import complete, redirect_uri, start_url
from engine.lifecycle.dispatch import set_transfer_dispatcher
from engine.runtime.locks import build as build_locks
from engine.runtime.wiring import google_kit
from engine.settings import load_settings
from engine.store.models import Person, Tenant
from engine.store.unit_of_work import set_dispatcher, unit_of_work
from tests.conftest import REPO_ROOT
from tests.integration.lifecycle.conftest import FALLBACK, OAUTH_ID, OAUTH_SECRET, Life
from tests.integration.lifecycle.test_transfer_paths import GRACE, KEN, RADIA
from tests.integration.sync.conftest import WORKER_ENV_KEYS, _env

NS = "muster-life-queue"


def _wait(cond: Callable[[], bool], timeout_s: float = 60.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.1)
    return cond()


def connect_via_consent(life: Life, email: str) -> None:
    """``email`` clicks Connect Google: start URL, the emulator's consent page (Allow), Muster's callback."""
    life.emu.control(
        "POST",
        "oauth-clients",
        [{"client_id": OAUTH_ID, "client_secret": OAUTH_SECRET, "redirect_uris": [redirect_uri(life.settings)]}],
    )
    with unit_of_work(life.engine) as uow:
        tenant = uow.db.get(Tenant, life.tenant_id)
        person = uow.db.exec(select(Person).where(Person.tenant_id == life.tenant_id, Person.email == email)).first()
        if person is None:
            person = Person(tenant_id=life.tenant_id, email=email, roles=["organizer"])
            uow.db.add(person)
        assert tenant is not None
        uow.db.flush()
        url = start_url(kit=google_kit(), settings=life.settings, tenant=tenant, person=person)
    with httpx.Client(timeout=10, follow_redirects=False) as http:
        page = http.get(url)
        form = {
            k: html.unescape(v)
            for k, v in re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', page.text)
        }
        form.update({"user": email, "decision": "allow"})
        answer = http.post(life.emu.url.rstrip("/") + "/o/oauth2/v2/auth", data=form)
    assert answer.status_code == 303, answer.text
    callback = httpx.URL(answer.headers["location"])
    with unit_of_work(life.engine) as uow:
        complete(
            kit=google_kit(), uow=uow, settings=life.settings, state=callback.params["state"],
            code=callback.params["code"],
        )


@pytest.fixture
def worker_process(life: Life, redis_url: str, tmp_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    """One real ``muster worker`` on Redis (own namespace), and this process as the web app's producer."""
    import redis

    from engine.runtime.worker import producer

    client = redis.Redis.from_url(redis_url)
    for k in client.scan_iter(f"{NS}:*"):
        client.delete(k)
    extra = {
        "MUSTER_GOOGLE_OAUTH_CLIENT_ID": OAUTH_ID,
        "MUSTER_GOOGLE_OAUTH_CLIENT_SECRET": OAUTH_SECRET,
        "MUSTER_REDIS_NAMESPACE": NS,
    }
    env = {k: v for k, v in os.environ.items() if k in WORKER_ENV_KEYS}
    env.update(_env(str(life.engine.url.render_as_string(hide_password=False)), life.emu, tmp_path, redis_url, **extra))
    env["PYTHONPATH"] = str(REPO_ROOT)
    log = open(tmp_path / "worker.log", "wb")  # noqa: SIM115
    proc = subprocess.Popen(
        [str(REPO_ROOT / ".venv" / "bin" / "muster"), "worker", "--threads", "2"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=str(REPO_ROOT),
    )
    producer(load_settings(env), engine=life.engine)  # what admin_ui.web does with Redis configured
    try:
        yield proc
    finally:
        set_dispatcher(None)
        set_transfer_dispatcher(None)
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
        for k in client.scan_iter(f"{NS}:*"):
            client.delete(k)


@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)
def test_worker_process_transfers_at_once_on_postgres_and_redis(
    life: Life, worker_process: subprocess.Popen[bytes], redis_url: str, tmp_path: Path
) -> None:
    for who in (RADIA, GRACE):
        life.connect(who)
    moved = life.put_session("q-move", hosts=[RADIA, GRACE], room=False)
    alone = life.put_session("q-alone", hosts=[KEN], room=False)
    life.connect(KEN)
    for sid in (moved, alone):
        assert life.settle(sid).outcome == "success"
    # The worker's periodic lifecycle pass (first run 30 s after start) finds its clock key taken, as when
    # another worker process runs the pass, and skips: whatever moves below, the actor moved.
    clock_lock = build_locks(redis_url, NS)[0]
    clock = clock_lock.acquire("directory-scan", 600)
    assert clock is not None

    # An announced departure: the web process enqueues, the worker process transfers.
    resp = life.request("PUT", f"/v1/people/{RADIA}/departure", {})
    assert resp.status_code == 200 and resp.json()["transferDue"] is True
    ok = _wait(lambda: life.binding(moved).owner_email == GRACE)
    assert ok, (tmp_path / "worker.log").read_text()[-3000:]

    # Nobody can inherit Ken's session until the fallback owner connects; connecting starts the transfer.
    assert life.request("PUT", f"/v1/people/{KEN}/departure", {}).status_code == 200
    assert _wait(lambda: bool(life.audit("lifecycle.transfer_blocked")))
    assert life.binding(alone).owner_email == KEN
    connect_via_consent(life, FALLBACK)
    ok = _wait(lambda: life.binding(alone).owner_email == FALLBACK)
    assert ok, (tmp_path / "worker.log").read_text()[-3000:]
    clock_lock.release("directory-scan", clock)
    assert worker_process.poll() is None
    assert sorted(a.detail["path"] for a in life.audit("lifecycle.transferred")) == ["move", "move"]


def test_embedded_worker_transfers_when_the_fallback_owner_connects(life: Life) -> None:
    from engine.runtime.worker import start_embedded

    life.connect(KEN)
    sid = life.put_session("q-fallback", hosts=[KEN], room=False)
    assert life.settle(sid).outcome == "success"
    assert life.request("PUT", f"/v1/people/{KEN}/departure", {}).status_code == 200
    [person] = life.sweep().transfers
    assert [s.outcome for s in person.sessions] == ["blocked"]
    embedded = start_embedded(life.settings, engine=life.engine, threads=1, timeout_s=10)
    try:
        connect_via_consent(life, FALLBACK)
        assert _wait(lambda: life.binding(sid).owner_email == FALLBACK)  # no sweep was run by hand
        embedded.join(30)
    finally:
        embedded.stop()
    assert [a.detail["path"] for a in life.audit("lifecycle.transferred")] == ["move"]


def test_oauth_error_text_reads_as_two_sentences() -> None:
    from engine.delegation.oauth import OAuthError

    err = OAuthError(
        "The answer from Google does not match a request from this server",
        "click Connect Google again from Muster",
        code="state_invalid",
    )
    assert str(err) == (
        "The answer from Google does not match a request from this server. Click Connect Google again from Muster."
    )
    assert err.fix == "click Connect Google again from Muster"  # the fix alone, for pages that show it apart
