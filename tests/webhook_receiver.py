"""A real HTTP webhook receiver for tests: the platform's side of Muster's outbound webhooks.

Where it sits: test support (``tests/``). It listens on 127.0.0.1 on a port of its own range, verifies each
request's signature with the recipe of docs/webhooks.md (written here independently of the engine's
signing module), and behaves like a careful platform: it processes each idempotency key once and drops
repeats. ``fail_first`` makes it process a request and then answer 503 (its answer "lost"), for that
many requests, so Muster must retry what was already processed.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

#: Ports this receiver may use (the project's range for hand-started servers).
PORTS = range(21650, 21700)


def verify(secret: str, headers: dict[str, str], body: bytes, *, now: float, tolerance_s: int = 300) -> bool:
    """docs/webhooks.md, "Verifying a webhook": HMAC-SHA256 of ``<timestamp>.<body>``, hex, as ``v1=``."""
    timestamp = headers.get("muster-webhook-timestamp", "")
    if not timestamp.isdigit() or abs(now - int(timestamp)) > tolerance_s:
        return False
    expected = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    given = headers.get("muster-webhook-signature", "")
    return any(
        hmac.compare_digest("v1=" + expected, part.strip()) for part in given.split(",")
    )


@dataclass
class Received:
    at: float
    headers: dict[str, str]
    body: bytes
    answered: int

    @property
    def json(self) -> dict[str, Any]:
        return dict(json.loads(self.body))

    @property
    def id(self) -> str:
        return self.headers.get("muster-webhook-id", "")


@dataclass
class Receiver:
    secret: str
    fail_first: int = 0
    requests: list[Received] = field(default_factory=list)
    #: idempotency key -> the event, processed once
    processed: dict[str, dict[str, Any]] = field(default_factory=dict)
    duplicates: int = 0
    bad_signatures: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)
    server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_address[1]}/muster-hooks"

    def events(self, event_type: str | None = None) -> list[dict[str, Any]]:
        with self.lock:
            values = list(self.processed.values())
        return [e for e in values if event_type is None or e["type"] == event_type]

    def wait_for(self, predicate: Any, timeout_s: float = 30.0) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if predicate():
                return
            time.sleep(0.05)
        raise AssertionError(f"the receiver did not see what was expected in {timeout_s} s: {self.events()}")

    def handle(self, headers: dict[str, str], body: bytes) -> int:
        with self.lock:
            if not verify(self.secret, headers, body, now=time.time()):
                self.bad_signatures += 1
                status = 401
            else:
                key = headers.get("muster-webhook-id", "")
                if key in self.processed:
                    self.duplicates += 1  # already processed: acknowledge, do nothing
                else:
                    self.processed[key] = json.loads(body)
                status = 503 if self.fail_first > 0 else 200
                if self.fail_first > 0:
                    self.fail_first -= 1
            self.requests.append(Received(time.monotonic(), headers, body, status))
            return status

    def start(self) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                status = receiver.handle({k.lower(): v for k, v in self.headers.items()}, body)
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *_args: Any) -> None:
                pass

        for port in PORTS:
            try:
                self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
                break
            except OSError:
                continue
        else:  # pragma: no cover
            raise RuntimeError(f"no free port in {PORTS}")
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
