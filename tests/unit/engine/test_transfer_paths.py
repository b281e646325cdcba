"""Table tests of the transfer path choice (pure :func:`engine.lifecycle.preview.transfer_paths`).

Where it sits: unit tests of the "decide" half of an organizer transfer; the paths themselves (move, Data
Transfer, recreate) run against the emulator in tests/integration/lifecycle/.
"""

from __future__ import annotations

import pytest

from engine.lifecycle.preview import (
    PATH_DATA_TRANSFER,
    PATH_MOVE,
    PATH_NONE,
    PATH_RECREATE,
    planned_path,
    transfer_paths,
)
from engine.store.models import PersonStatus
from policies.successor import Outcome


@pytest.mark.parametrize(
    ("status", "paths"),
    [
        (PersonStatus.LEAVING.value, (PATH_MOVE, PATH_DATA_TRANSFER, PATH_RECREATE)),
        (PersonStatus.SUSPENDED.value, (PATH_DATA_TRANSFER, PATH_RECREATE)),
        (PersonStatus.DELETED.value, (PATH_RECREATE,)),
        (PersonStatus.ACTIVE.value, (PATH_RECREATE,)),
    ],
)
def test_transfer_paths_fall_through_to_recreate(status: str, paths: tuple[str, ...]) -> None:
    assert transfer_paths(status) == paths


@pytest.mark.parametrize(
    ("status", "outcome", "path"),
    [
        (PersonStatus.ACTIVE.value, Outcome.CO_HOST, PATH_MOVE),  # as if the departure were announced now
        (PersonStatus.LEAVING.value, Outcome.CO_HOST, PATH_MOVE),
        (PersonStatus.SUSPENDED.value, Outcome.FALLBACK, PATH_DATA_TRANSFER),
        (PersonStatus.DELETED.value, Outcome.CO_HOST, PATH_RECREATE),
        (PersonStatus.LEAVING.value, Outcome.BLOCKED, PATH_NONE),
        (PersonStatus.SUSPENDED.value, Outcome.NOT_AFFECTED, PATH_NONE),
    ],
)
def test_planned_path_is_the_first_path_tried(status: str, outcome: Outcome, path: str) -> None:
    assert planned_path(status, outcome) == path
