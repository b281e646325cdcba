"""Every in-process integration test runs under the no-HTTP-in-a-transaction guard (:mod:`tests.txguard`)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.txguard import no_http_in_transaction


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "http_in_transaction(reason): a known, named exception to the no-HTTP-in-a-transaction guard"
    )


@pytest.fixture(autouse=True)
def no_http_inside_transactions(request: pytest.FixtureRequest) -> Iterator[None]:
    with no_http_in_transaction() as violations:
        yield
    if violations and request.node.get_closest_marker("http_in_transaction") is None:
        pytest.fail(f"{len(violations)} HTTP request(s) started inside a database transaction; the first:\n"
                    + violations[0], pytrace=False)
