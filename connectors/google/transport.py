"""The HTTP transport under the Google client: each request is sent exactly once.

Where it sits: ``connectors.google``; :class:`connectors.google.calendar.GoogleCalendarFactory` hands a
:class:`SingleShotHttp` to ``google_auth_httplib2.AuthorizedHttp`` in place of ``httplib2.Http``.

Why: httplib2 silently re-sends a request when the connection drops before the status line arrives
(``BadStatusLine``/``RemoteDisconnected`` on a first attempt), whatever the method. For a write sent with
``sendUpdates=all`` whose first attempt *was* applied, that re-send e-mails every guest a second time.
Muster never wants a hidden re-send: a dropped connection surfaces as ``ConnectionError`` (classified
as retryable), and the engine re-reads the event and re-plans (a lost insert meets 409 and is adopted; a
lost patch is found already applied and nothing is re-sent).

The object offers what googleapiclient and google-auth-httplib2 use of ``httplib2.Http``: ``request()``
returning ``(httplib2.Response, bytes)``, ``timeout``, ``follow_redirects``, ``redirect_codes``,
``connections`` and ``close()``.

How it sends: over the standard library's ``http.client``, one kept-alive connection per thread and server
(the object is shared by every port of a factory, across threads), TLS verified as httpx does
(``httpx.create_ssl_context``: certifi, or ``SSL_CERT_FILE``/``SSL_CERT_DIR``). A connection is reused only
while it is fresh (idle under :data:`KEEPALIVE_S`, nothing readable on it: a server that closed it is seen
before anything is sent on it); otherwise a new one is opened. A gzip or deflate answer is decompressed here
(httplib2 would have done it). This costs about a quarter of what the same request cost through httpx's
client, per request of a drift sweep. When a proxy is configured in the environment (``HTTP_PROXY``,
``HTTPS_PROXY``, ``ALL_PROXY``, honoured with ``NO_PROXY``), or a ``client`` is passed (tests' mock
transports), requests go through an httpx client with transport retries disabled instead.
"""

from __future__ import annotations

import http.client
import select
import ssl
import threading
import time
import urllib.request
import zlib
from typing import Any
from urllib.parse import urlsplit

import httplib2
import httpx

#: Response headers httpx has already applied (decompressed body), not to be re-applied by the client.
_DROP = {"content-encoding", "transfer-encoding"}
#: Seconds an idle kept-alive connection is reused for (httpx's default keep-alive expiry).
KEEPALIVE_S = 5.0


def _proxied() -> bool:
    """True when the environment names a proxy for HTTP or HTTPS (read once, at construction, as httpx does)."""
    proxies = urllib.request.getproxies()
    return any(proxies.get(k) for k in ("http", "https", "all"))


def _fresh(sock: Any) -> bool:
    """A kept-alive socket is fit to send on when nothing is readable on it (a closed one reads EOF)."""
    try:
        return not select.select([sock], [], [], 0)[0]
    except (OSError, ValueError):
        return False


def _decoded(data: bytes, encoding: str | None) -> bytes:
    if not encoding or not data:
        return data
    coding = encoding.strip().lower()
    try:
        if coding in ("gzip", "x-gzip"):
            return zlib.decompress(data, 16 + zlib.MAX_WBITS)
        if coding == "deflate":
            try:
                return zlib.decompress(data)
            except zlib.error:
                return zlib.decompress(data, -zlib.MAX_WBITS)
    except zlib.error as exc:
        raise ConnectionError(f"an answer that does not decompress ({coding}): {exc}") from exc
    return data


class SingleShotHttp:
    def __init__(self, timeout: float = 30.0, *, client: httpx.Client | None = None) -> None:
        self.timeout = timeout
        self.follow_redirects = False
        self.redirect_codes = frozenset({300, 301, 302, 303, 307, 308})
        self.connections: dict[str, Any] = {}
        self._client = client
        if client is None and _proxied():
            self._client = httpx.Client(
                timeout=timeout, follow_redirects=False, transport=httpx.HTTPTransport(retries=0)
            )
        self._local = threading.local()
        self._tls: ssl.SSLContext | None = None
        self._tls_lock = threading.Lock()

    def request(
        self,
        uri: str,
        method: str = "GET",
        body: Any = None,
        headers: dict[str, str] | None = None,
        redirections: int = 0,
        connection_type: Any = None,
        **_: Any,
    ) -> tuple[httplib2.Response, bytes]:
        if hasattr(body, "read"):
            body = body.read()
        if isinstance(body, str):
            body = body.encode("utf-8")
        if self._client is not None:
            return self._via_httpx(uri, method, body, headers)
        scheme, netloc, path, query, _fragment = urlsplit(uri)
        target = (path or "/") + (f"?{query}" if query else "")
        key = f"{scheme}://{netloc}"
        conn, idle = self._connection(key, scheme, netloc)
        try:
            conn.request(method, target, body=body, headers=headers or {})
            answer = conn.getresponse()
            data = answer.read()
        except TimeoutError as exc:
            conn.close()
            raise TimeoutError(f"{method} {uri}: no answer within {self.timeout}s") from exc
        except (OSError, http.client.HTTPException) as exc:
            conn.close()
            raise ConnectionError(f"{method} {uri}: {type(exc).__name__}: {exc}") from exc
        idle[key] = time.monotonic()
        info: dict[str, str] = {}
        for k, v in answer.getheaders():
            name = k.lower()
            info[name] = f"{info[name]}, {v}" if name in info else v
        data = _decoded(data, info.get("content-encoding"))
        for name in _DROP:
            info.pop(name, None)
        info["status"] = str(answer.status)
        response = httplib2.Response(info)
        response.reason = answer.reason
        return response, data

    def _connection(
        self, key: str, scheme: str, netloc: str
    ) -> tuple[http.client.HTTPConnection, dict[str, float]]:
        """This thread's connection to ``key`` (``scheme://netloc``): the kept-alive one while it is fresh,
        else a new one."""
        local = self._local
        conns: dict[str, http.client.HTTPConnection] | None = getattr(local, "conns", None)
        if conns is None:
            conns = local.conns = {}
            local.idle = {}
        idle: dict[str, float] = local.idle
        conn = conns.get(key)
        stale = conn is not None and conn.sock is not None and (
            time.monotonic() - idle.get(key, 0.0) > KEEPALIVE_S or not _fresh(conn.sock)
        )
        if stale and conn is not None:
            conn.close()  # the next request opens a new connection
        if conn is None:
            if scheme == "https":
                conn = http.client.HTTPSConnection(netloc, timeout=self.timeout, context=self._tls_context())
            elif scheme == "http":
                conn = http.client.HTTPConnection(netloc, timeout=self.timeout)
            else:
                raise ConnectionError(f"{scheme}://{netloc}: not an http(s) address")
            conns[key] = conn
        return conn, idle

    def _tls_context(self) -> ssl.SSLContext:
        with self._tls_lock:
            if self._tls is None:
                self._tls = httpx.create_ssl_context()
            return self._tls

    def _via_httpx(
        self, uri: str, method: str, body: Any, headers: dict[str, str] | None
    ) -> tuple[httplib2.Response, bytes]:
        assert self._client is not None
        try:
            answer = self._client.request(method, uri, content=body, headers=headers or {})
        except httpx.TimeoutException as exc:
            raise TimeoutError(f"{method} {uri}: no answer within {self.timeout}s") from exc
        except httpx.TransportError as exc:
            raise ConnectionError(f"{method} {uri}: {type(exc).__name__}: {exc}") from exc
        info: dict[str, str] = {k.lower(): v for k, v in answer.headers.items() if k.lower() not in _DROP}
        info["status"] = str(answer.status_code)
        response = httplib2.Response(info)
        response.reason = answer.reason_phrase
        return response, answer.content

    def close(self) -> None:
        """Close this thread's connections (and the httpx client, when there is one)."""
        for conn in (getattr(self._local, "conns", None) or {}).values():
            conn.close()
        if self._client is not None:
            self._client.close()

    def __deepcopy__(self, _memo: dict[int, Any]) -> SingleShotHttp:
        """A transport of its own for another thread (google-auth copies the transport before it looks up a
        credential's regional access boundary in the background). Without this, the copy fails on the
        transport's locks, google-auth records no attempt, and it tries (and fails) again before every
        request: a deep copy per Google call."""
        return SingleShotHttp(self.timeout)
