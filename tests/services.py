"""Access to the real services tests run against: PostgreSQL and Redis.

Where it sits: imported by ``tests/conftest.py``. Each probe answers the URL to use, or a reason the
service is absent. Absent services skip their tests with that reason, except when
``MUSTER_REQUIRE_SERVICES=1`` (CI), where they fail instead: CI must never pass by skipping.
"""

from __future__ import annotations

import os
import socket
from urllib.parse import urlparse

import pytest

#: Admin connection used to create a throwaway database per test run.
PG_ADMIN_URL = os.environ.get("MUSTER_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("MUSTER_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


def services_required() -> bool:
    return os.environ.get("MUSTER_REQUIRE_SERVICES", "").strip() in ("1", "true", "yes")


def _reachable(url: str, default_port: int) -> bool:
    parsed = urlparse(url)
    try:
        with socket.create_connection((parsed.hostname or "127.0.0.1", parsed.port or default_port), timeout=1):
            return True
    except OSError:
        return False


def require(service: str, url: str, default_port: int) -> None:
    """Skip (or fail, when services are required) unless ``service`` answers at ``url``."""
    if _reachable(url, default_port):
        return
    reason = f"{service} is not reachable at {url}; start it (see README) or unset MUSTER_REQUIRE_SERVICES"
    if services_required():
        pytest.fail(f"MUSTER_REQUIRE_SERVICES=1 but {reason}")
    pytest.skip(reason)
