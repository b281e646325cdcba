"""The health and metrics endpoint of one ``muster worker`` command, on a port of its own.

Where it sits: started by :func:`engine.runtime.worker.run` in the command's first process, before the worker
processes (which share their metrics with it through prometheus_client's multiprocess folder, see
:mod:`engine.runtime.metrics`). A small stdlib HTTP server on a thread:

* ``GET /metrics`` - every series of this command's worker processes (text exposition format), plus
  ``muster_queue_depth``.
* ``GET /livez`` - 200 while the process runs.
* ``GET /readyz`` (also ``/healthz``) - 200 when Redis answers a PING, else 503; the JSON says the broker
  state, when a message was last handled and the version.

It also announces itself in Redis (``<namespace>:worker:<host>:<pid>``, refreshed every
:data:`ANNOUNCE_EVERY_S`, expiring after :data:`ANNOUNCE_TTL_S`), so the admin Health page and
``muster status`` find every live worker and read the same numbers.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from engine import version
from engine.runtime import metrics, probes
from engine.settings import Settings

log = logging.getLogger(__name__)

#: Seconds between two announcements in Redis, and how long one lives.
ANNOUNCE_EVERY_S = 5.0
ANNOUNCE_TTL_S = 15


def advertised_host(bind_host: str) -> str:
    """The host name others reach this worker by (the machine's name when bound to every interface)."""
    return socket.getfqdn() if bind_host in ("0.0.0.0", "::", "") else bind_host


def last_message_at() -> float | None:
    for s in metrics.local_samples():
        if s.name == "muster_worker_last_message_timestamp_seconds" and s.value:
            return s.value
    return None


def readiness(settings: Settings) -> tuple[bool, dict[str, Any]]:
    broker = probes.broker(settings.redis_url)
    last = last_message_at()
    body: dict[str, Any] = {
        "status": "ready" if broker.ok else "not ready",
        "version": version(),
        "checks": {"broker": broker.as_dict()},
        "last_message_at": last,
        "seconds_since_last_message": None if last is None else round(time.time() - last, 1),
    }
    return broker.ok, body


class WorkerHealthServer:
    """``/metrics``, ``/livez``, ``/readyz`` for one ``muster worker`` command (see the module docstring)."""

    def __init__(self, settings: Settings, host: str, port: int, queue_depth: Any = None) -> None:
        self.settings = settings
        self._queue_depth = queue_depth
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                outer._answer(self)

            def log_message(self, format: str, *args: Any) -> None:
                log.debug("worker health: " + format, *args)

        self._server = ThreadingHTTPServer((host, port), Handler)
        self._server.daemon_threads = True
        self.port = int(self._server.server_address[1])
        self.url = f"http://{advertised_host(host)}:{self.port}/"
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def _answer(self, request: BaseHTTPRequestHandler) -> None:
        path = request.path.split("?", 1)[0]
        status, ctype, body = 404, "application/json", b'{"detail": "not found: try /metrics, /livez, /readyz"}'
        try:
            if path == "/metrics":
                extra = [metrics.queue_depth_collector(self._queue_depth)] if self._queue_depth else []
                status, ctype, body = 200, metrics.CONTENT_TYPE, metrics.exposition(*extra)
            elif path == "/livez":
                status, body = 200, json.dumps({"status": "ok", "version": version()}).encode()
            elif path in ("/readyz", "/healthz"):
                ok, answer = readiness(self.settings)
                status, body = (200 if ok else 503), json.dumps(answer).encode()
        except Exception:  # an endpoint failure is logged and answered, never a dead thread
            log.exception("worker health endpoint failed on %s", path)
            status, body = 500, b'{"detail": "internal error; see the worker log"}'
        request.send_response(status)
        request.send_header("Content-Type", ctype)
        request.send_header("Content-Length", str(len(body)))
        request.end_headers()
        request.wfile.write(body)

    def _announce(self) -> None:
        import redis

        key = f"{metrics.worker_key_prefix(self.settings.redis_namespace)}{socket.gethostname()}:{os.getpid()}"
        record = json.dumps({"url": self.url, "version": version(), "pid": os.getpid(), "started_at": time.time()})
        client = redis.Redis.from_url(str(self.settings.redis_url), socket_connect_timeout=2, socket_timeout=2)
        while True:
            try:
                client.set(key, record, ex=ANNOUNCE_TTL_S)
            except (redis.RedisError, OSError) as exc:
                log.debug("worker health: cannot announce in Redis: %s", exc)
            if self._stop.wait(ANNOUNCE_EVERY_S):
                break
        with contextlib.suppress(redis.RedisError, OSError):
            client.delete(key)
        client.close()

    def start(self) -> None:
        serve = threading.Thread(target=self._server.serve_forever, name="muster-worker-health", daemon=True)
        serve.start()
        self._threads.append(serve)
        if self.settings.redis_url:
            announce = threading.Thread(target=self._announce, name="muster-worker-announce", daemon=True)
            announce.start()
            self._threads.append(announce)
        log.info("worker health and metrics on %s (/metrics, /livez, /readyz)", self.url)

    def stop(self) -> None:
        self._stop.set()
        self._server.shutdown()
        self._server.server_close()
        for t in self._threads:
            t.join(timeout=5)
