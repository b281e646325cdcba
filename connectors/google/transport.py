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
``connections`` and ``close()``. Built on httpx with transport retries disabled.
"""

from __future__ import annotations

from typing import Any

import httplib2
import httpx

#: Response headers httpx has already applied (decompressed body), not to be re-applied by the client.
_DROP = {"content-encoding", "transfer-encoding"}


class SingleShotHttp:
    def __init__(self, timeout: float = 30.0, *, client: httpx.Client | None = None) -> None:
        self.timeout = timeout
        self.follow_redirects = False
        self.redirect_codes = frozenset({300, 301, 302, 303, 307, 308})
        self.connections: dict[str, Any] = {}
        self._client = client or httpx.Client(
            timeout=timeout, follow_redirects=False, transport=httpx.HTTPTransport(retries=0)
        )

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
        self._client.close()

    def __deepcopy__(self, _memo: dict[int, Any]) -> SingleShotHttp:
        """A transport of its own for another thread (google-auth copies the transport before it looks up a
        credential's regional access boundary in the background). Without this, the copy fails on the
        httpx client's locks, google-auth records no attempt, and it tries (and fails) again before every
        request: a deep copy per Google call."""
        return SingleShotHttp(self.timeout)
