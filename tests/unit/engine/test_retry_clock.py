"""The retry clock's pure parts: backoff doubles up to its cap; the reason names one next try."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from engine.delegation.retry import NEXT_TRY, backoff, with_next_try


@pytest.mark.parametrize(
    ("retries", "seconds"), [(0, 60), (1, 120), (2, 240), (5, 1920), (6, 3600), (40, 3600), (-1, 60)]
)
def test_backoff_doubles_up_to_the_cap(retries: int, seconds: int) -> None:
    assert backoff(retries, low_s=60, high_s=3600) == timedelta(seconds=seconds)


def test_reason_names_the_next_try_once() -> None:
    first = with_next_try("no room available: all 3 fitting room(s) are busy at that time",
                          datetime(2026, 12, 1, 10, 0, 5, tzinfo=UTC))
    assert first == ("no room available: all 3 fitting room(s) are busy at that time; "
                     f"{NEXT_TRY} 2026-12-01 10:00:05 UTC")
    second = with_next_try(first, datetime(2026, 12, 1, 10, 2, 5, tzinfo=UTC))
    assert second.count(NEXT_TRY) == 1 and second.endswith("10:02:05 UTC")
    assert with_next_try(None, datetime(2026, 12, 1, tzinfo=UTC)) == f"{NEXT_TRY} 2026-12-01 00:00:00 UTC"
