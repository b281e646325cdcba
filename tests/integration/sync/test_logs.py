"""Structured logs of a real sync: one ``reconcile_id`` from the actor to the Google call, and no secret in any line.

Where it sits: ``tests/integration/sync`` on the SQLite stack (embedded worker in this process, emulator over
HTTP). Every log record of the run goes through Muster's own formatters (:mod:`engine.runtime.logs`), at DEBUG,
so google-auth, httplib2, dramatiq and the engine's lines are all checked.
"""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from engine.runtime import logs
from tests.integration.sync.conftest import Stack, organizers, people, session_body


@pytest.fixture
def captured() -> Iterator[dict[str, io.StringIO]]:
    streams = {"json": io.StringIO(), "text": io.StringIO()}
    handlers = []
    root = logging.getLogger()
    old_level = root.level
    for fmt, stream in streams.items():
        handler = logging.StreamHandler(stream)
        handler.setFormatter(logs.formatter(fmt))
        root.addHandler(handler)
        handlers.append(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield streams
    finally:
        for handler in handlers:
            root.removeHandler(handler)
        root.setLevel(old_level)


def test_one_reconcile_shares_one_reconcile_id_and_no_secret_is_logged(
    sqlite_stack: Stack, captured: dict[str, io.StringIO]
) -> None:
    stack = sqlite_stack
    stack.put_session("log-1", session_body(hosts=organizers()[:1], enrolled=people("l", 2, start=400)))
    stack.idle()
    sid = str(stack.session_id("log-1"))
    binding = stack.binding(stack.session_id("log-1"))
    assert binding is not None and binding.sync_status == "synced"

    lines = [json.loads(line) for line in captured["json"].getvalue().splitlines() if line.strip()]
    mine = [line for line in lines if line.get("session") == sid]
    ids = {line["reconcile_id"] for line in mine}
    assert len(ids) == 1, ids  # one reconcile of a new session
    calls = [line for line in mine if line.get("op", "").startswith("calendar.events.")]
    assert any(c["op"] == "calendar.events.insert" and c["outcome"] == "ok" for c in calls), calls
    for call in calls:
        assert call["tenant"] == "acme" and call["google_identity"] == binding.owner_email
    done = [line for line in mine if line["message"].startswith("reconciled session")]
    assert len(done) == 1 and done[0]["outcome"] == "success" and done[0]["tenant"] == "acme"
    assert {"ts", "level", "logger", "message"} <= set(done[0])

    # text lines carry the same context
    text = captured["text"].getvalue()
    assert f"reconcile_id={done[0]['reconcile_id']} tenant=acme session={sid}" in text

    # No token, key or password anywhere: the tenant's API key, Muster's secret key, the service account's
    # private key, and every access token the emulator issued during the sync.
    key_file = json.loads(stack.emu.key_file.read_text())
    secrets = [stack.key, stack.settings.secret_key, *key_file["private_key"].splitlines()[1:3]]
    secrets += list(stack.emu.world.access_tokens)
    assert len(stack.emu.world.access_tokens) >= 1
    everything = captured["json"].getvalue() + text
    assert len(everything) > 1000  # DEBUG lines from google-auth, httplib2 and dramatiq were captured
    for secret in secrets:
        assert secret not in everything, "a secret reached the log"


@pytest.mark.parametrize(
    ("message", "secret"),
    [
        ("Authorization: Bearer ya29.a0AfB_byC-secret-token", "a0AfB_byC-secret-token"),
        ("key mk_ab12cd34_s3cr3tS3cr3tS3cr3t rejected", "s3cr3tS3cr3tS3cr3t"),
        ('{"access_token": "opaque-token-value", "expires_in": 3599}', "opaque-token-value"),
        ("refresh_token=1//0gAbCdEfGhIjKlMnOp&grant_type=refresh_token", "0gAbCdEfGhIjKlMnOp"),
        ("cannot reach redis://user:hunter2@10.0.0.5:6379/0", "hunter2"),
        ("postgresql://muster:pg-pass-1@db:5432/muster failed", "pg-pass-1"),
        ("password=correct-horse-battery", "correct-horse-battery"),
        ('{"client_secret": "GOCSPX-abcdef"}', "GOCSPX-abcdef"),
        ("-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBg\n-----END PRIVATE KEY-----", "MIIEvQIBADANBg"),
    ],
)
@pytest.mark.parametrize("fmt", ["json", "text"])
def test_secrets_are_masked_in_every_format(message: str, secret: str, fmt: str) -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logs.formatter(fmt))
    logger = logging.getLogger("tests.redaction")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning("seen: %s", message)
        try:
            raise RuntimeError(message)
        except RuntimeError:
            logger.exception("failed")
    finally:
        logger.removeHandler(handler)
    out = stream.getvalue()
    assert secret not in out and logs.MASK in out
