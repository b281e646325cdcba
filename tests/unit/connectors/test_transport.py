"""The single-shot transport keeps one connection per thread and server, opens a new one when the server closed
the old, decompresses what it was sent compressed, and never re-sends a request whose answer was lost.

Where it sits: ``tests/unit/connectors``, against a small HTTP/1.1 server on the loopback interface (raw
sockets, so a test decides when a connection closes and sees every request and connection).
"""

from __future__ import annotations

import gzip
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest

from connectors.google.transport import SingleShotHttp

#: ``(request number, request line) -> (raw answer, or None to drop the connection unanswered; close after)``
Answer = Callable[[int, str], tuple[bytes | None, bool]]


class _Server:
    def __init__(self, answer: Answer) -> None:
        self.answer = answer
        self.connections = 0
        self.requests: list[str] = []
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(8)
        self.url = f"http://127.0.0.1:{self._sock.getsockname()[1]}"
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        buf = b""
        with conn:
            while True:
                while b"\r\n\r\n" not in buf:
                    chunk = conn.recv(65536)
                    if not chunk:
                        return
                    buf += chunk
                head, buf = buf.split(b"\r\n\r\n", 1)
                lines = head.decode("latin-1").split("\r\n")
                length = next((int(v) for k, _, v in (h.partition(": ") for h in lines[1:])
                               if k.lower() == "content-length"), 0)
                while len(buf) < length:
                    buf += conn.recv(65536)
                buf = buf[length:]
                self.requests.append(lines[0])
                raw, close = self.answer(len(self.requests), lines[0])
                if raw is None:
                    return  # dropped before any answer byte
                conn.sendall(raw)
                if close:
                    return

    def stop(self) -> None:
        self._sock.close()


@contextmanager
def _server(answer: Answer) -> Iterator[_Server]:
    server = _Server(answer)
    try:
        yield server
    finally:
        server.stop()


def _ok(body: bytes, *headers: str) -> bytes:
    extra = "".join(f"{h}\r\n" for h in headers)
    return f"HTTP/1.1 200 OK\r\nContent-Length: {len(body)}\r\n{extra}\r\n".encode() + body


def test_requests_of_one_thread_share_a_kept_alive_connection_and_another_thread_has_its_own() -> None:
    with _server(lambda n, _line: (_ok(b'{"n": %d}' % n, "ETag: \"e1\"", "Vary: Origin", "Vary: Accept"), False)) \
            as server:
        http = SingleShotHttp(5.0)
        first, body = http.request(server.url + "/calendar/v3/x?alt=json", "GET", headers={"accept": "*/*"})
        assert (first.status, body, first["etag"], first["vary"]) == (200, b'{"n": 1}', '"e1"', "Origin, Accept")
        _, body = http.request(server.url + "/calendar/v3/y", "POST", body='{"a": "é"}')
        assert body == b'{"n": 2}'
        assert server.connections == 1
        assert server.requests == ["GET /calendar/v3/x?alt=json HTTP/1.1", "POST /calendar/v3/y HTTP/1.1"]
        other = threading.Thread(target=lambda: http.request(server.url + "/z"))
        other.start()
        other.join()
        assert server.connections == 2
        http.close()


def test_a_connection_the_server_closed_is_replaced_before_the_next_request() -> None:
    """Idle kept-alive connections closed by the server (its keep-alive timeout) are not sent on: a new one is
    opened, and the request is sent once, on it. An answer saying ``Connection: close`` closes it at once."""
    closing: Answer = lambda n, _line: (_ok(b"{}", "Connection: close") if n == 3 else _ok(b"{}"), True)  # noqa: E731
    with _server(closing) as server:
        http = SingleShotHttp(5.0)
        for _ in range(4):
            response, _body = http.request(server.url + "/e")
            assert response.status == 200
            time.sleep(0.05)  # the server's FIN arrives meanwhile
        assert (server.connections, len(server.requests)) == (4, 4)


def test_a_compressed_answer_is_decompressed_and_its_encoding_dropped() -> None:
    packed = gzip.compress(b'{"kind": "calendar#event"}')
    with _server(lambda _n, _line: (_ok(packed, "Content-Encoding: gzip"), False)) as server:
        response, body = SingleShotHttp(5.0).request(server.url + "/e", headers={"accept-encoding": "gzip"})
    assert body == b'{"kind": "calendar#event"}'
    assert "content-encoding" not in response


def test_a_request_whose_answer_is_lost_is_sent_once_and_fails_as_a_connection_error() -> None:
    with _server(lambda _n, _line: (None, True)) as server:
        with pytest.raises(ConnectionError):
            SingleShotHttp(5.0).request(server.url + "/calendar/v3/calendars/c/events", "POST", body="{}")
        assert server.requests == ["POST /calendar/v3/calendars/c/events HTTP/1.1"]


def test_a_server_that_does_not_answer_in_time_is_a_timeout() -> None:
    late: Answer = lambda _n, _line: (_ok(b"{}"), False) if threading.Event().wait(1.0) else (None, True)  # noqa: E731
    with _server(late) as server, pytest.raises(TimeoutError):
        SingleShotHttp(0.2).request(server.url + "/slow")


def test_a_configured_proxy_sends_through_httpx(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:9")
    http = SingleShotHttp(5.0)
    assert http._client is not None  # httpx honours the proxy (and NO_PROXY) as before
    http.close()
    monkeypatch.delenv("HTTPS_PROXY")
    monkeypatch.delenv("https_proxy", raising=False)
    assert SingleShotHttp(5.0)._client is None
