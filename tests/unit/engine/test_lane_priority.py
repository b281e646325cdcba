"""Platform changes go ahead of background work in every worker: a learner's enrollment does not wait behind a
sweep's queued reconciles.

Where it sits: unit tests of the two lanes of :mod:`engine.runtime.actors` on a StubBroker with one worker
thread and a recording reconciler (no database, no Google); the quota share of the background lane is in
``test_quota_lanes.py``, the end-to-end figure in ``bench/twoway_calls.py``.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dramatiq
import pytest
from dramatiq.brokers.stub import StubBroker

from engine.runtime import actors, locks, wiring
from engine.runtime.context import Runtime
from engine.settings import load_settings
from engine.sync.reconciler import Result


@dataclass
class Slow:
    """A reconciler that records the order it was asked in; its first call waits until the test lets it go
    (the worker thread is busy while the test queues more work)."""

    order: list[tuple[str, uuid.UUID]] = field(default_factory=list)
    started: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)

    def reconcile(self, session_id: uuid.UUID, *, verify: bool = False) -> Any:
        self.order.append(("background" if verify else "platform", session_id))
        self.started.set()
        assert self.release.wait(30), "the test never released the first reconcile"
        return Result(outcome="success")


@pytest.fixture
def setup(tmp_path: Path) -> Iterator[tuple[actors.Tasks, StubBroker, dramatiq.Worker, Slow]]:
    settings = load_settings({"MUSTER_VAR_DIR": str(tmp_path), "MUSTER_DEBOUNCE_MS": "0"})
    lock, debouncer = locks.build(None)
    reconciler = Slow()
    rt = Runtime(settings, engine=None, reconciler=reconciler, lock=lock, debouncer=debouncer,  # type: ignore[arg-type]
                 limiter=None)  # type: ignore[arg-type]
    broker = StubBroker()
    broker.emit_after("process_boot")
    worker = dramatiq.Worker(broker, worker_threads=1, worker_timeout=50)
    tasks = actors.bind(broker, rt)
    yield tasks, broker, worker, reconciler
    reconciler.release.set()
    worker.stop()
    broker.close()
    wiring.stop_task_layer()


def _wait_for(check: Any, what: str) -> None:
    deadline = time.monotonic() + 30
    while not check():
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        time.sleep(0.005)


def test_an_enrollment_overtakes_a_sweep_already_queued(
    setup: tuple[actors.Tasks, StubBroker, dramatiq.Worker, Slow],
) -> None:
    tasks, broker, worker, reconciler = setup
    swept = [uuid.uuid4() for _ in range(30)]
    for sid in swept:  # the drift sweep (or a full verification) queued its background reconciles first
        assert tasks.enqueue(sid, background=True)
    worker.start()
    # The one worker thread is busy with the first background reconcile, and the worker already holds
    # the next background message it prefetched: that one arrived first.
    assert reconciler.started.wait(30)
    _wait_for(lambda: worker.work_queue.qsize() >= 1, "a prefetched background message")
    enrolled = uuid.uuid4()
    assert tasks.enqueue(enrolled)  # then a learner enrolls
    _wait_for(lambda: worker.work_queue.qsize() >= 2, "the enrollment's message to reach the worker")
    reconciler.release.set()
    for queue in (actors.QUEUE, actors.BACKGROUND_QUEUE):
        broker.join(queue)
    worker.join()
    lanes = [lane for lane, _ in reconciler.order]
    assert sorted(sid for lane, sid in reconciler.order if lane == "background") == sorted(swept)
    # The thread frees up with both a background message (queued earlier) and the enrollment waiting:
    # the enrollment runs next. With equal priorities, or one shared queue, the older background message
    # (and, on one queue, all 29 of them) would run first.
    assert lanes[0] == "background" and lanes[1] == "platform", lanes
    assert reconciler.order[1] == ("platform", enrolled)
