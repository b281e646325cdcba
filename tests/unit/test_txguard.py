"""The guard itself: it must catch a request started inside a transaction, and only then."""

from __future__ import annotations

from pathlib import Path

import httpx
import sqlalchemy as sa

from connectors.google.transport import SingleShotHttp
from tests.txguard import no_http_in_transaction


def _transport() -> SingleShotHttp:
    return SingleShotHttp(client=httpx.Client(transport=httpx.MockTransport(lambda r: httpx.Response(200))))


def test_a_request_inside_a_transaction_is_caught_and_one_outside_is_not(tmp_path: Path) -> None:
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'g.db'}")
    http = _transport()
    with no_http_in_transaction() as violations:
        http.request("http://google.test/outside")
        with engine.begin() as conn:
            conn.execute(sa.text("select 1"))
            http.request("http://google.test/inside", "POST")
        http.request("http://google.test/after")
    assert len(violations) == 1 and violations[0].startswith("POST http://google.test/inside")
    engine.dispose()
