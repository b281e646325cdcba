"""API calls of a mass transfer stay bounded per session (counted by the emulator's request counters).

Runs ``bench/transfer.py``'s measurement (the figure ``make bench`` prints for 200 sessions as
``transfer_calls_per_session``) on a smaller organizer so the suite stays fast; the bound is the same.
"""

from __future__ import annotations

import importlib.util
import sys
from types import ModuleType

import pytest

from tests.conftest import REPO_ROOT


def _bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_transfer", REPO_ROOT / "bench" / "transfer.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
@pytest.mark.parametrize(("suspend", "sessions"), [(False, 50), (True, 30)], ids=["move", "data_transfer"])
def test_calls_per_session_are_bounded(suspend: bool, sessions: int) -> None:
    figures = _bench().measure(sessions, suspend=suspend)
    moves = sum(v for k, v in figures.by_route.items() if k.endswith("/move"))
    event_get = "GET /calendar/v3/calendars/{calendarId}/events/"
    gets = sum(v for k, v in figures.by_route.items() if k.startswith(event_get))
    # Per session: one move (or one adoption get), the reconcile's get and at most one converging patch;
    # plus a constant per transfer (calendar share/unshare, Directory lookups, the Data Transfer, its polls).
    assert figures.calls <= 3 * sessions + 20, figures.by_route
    assert figures.per_session <= 3.7
    assert (moves, gets) == ((0, 2 * sessions) if suspend else (sessions, sessions)), figures.by_route
