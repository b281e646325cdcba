"""The actors are module-level ``@dramatiq.actor`` functions; each broker they are bound to runs them with its
own runtime; the composition root installs the after-commit dispatcher.

Where it sits: unit tests of :mod:`engine.runtime.actors` and :func:`engine.runtime.wiring.start_task_layer`,
on StubBrokers with a recording reconciler (no database, no Google). The end-to-end runs through real
``muster worker`` processes and the embedded worker are in ``tests/integration/sync``.
"""

from __future__ import annotations

import inspect
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import dramatiq
import pytest
from dramatiq.brokers.stub import StubBroker

from connectors.errors import RetriableError
from engine.lifecycle import dispatch as lifecycle_dispatch
from engine.runtime import actors, locks, wiring
from engine.runtime.context import Runtime
from engine.settings import load_settings
from engine.store.unit_of_work import current_dispatcher
from engine.sync import lanes
from engine.sync.reconciler import Result
from engine.webhooks import outbox as webhook_outbox


@dataclass
class Recording:
    """A reconciler that records the ids it is given and answers from a script."""

    name: str
    seen: list[uuid.UUID] = field(default_factory=list)
    answers: list[Any] = field(default_factory=list)
    verified: list[uuid.UUID] = field(default_factory=list)

    def reconcile(self, session_id: uuid.UUID, *, verify: bool = False) -> Any:
        (self.verified if verify else self.seen).append(session_id)
        answer = self.answers.pop(0) if self.answers else Result(outcome="success")
        if isinstance(answer, Exception):
            raise answer
        return answer


def runtime(tmp_path: Path, name: str, **env: str) -> tuple[Runtime, Recording]:
    settings = load_settings({"MUSTER_VAR_DIR": str(tmp_path), "MUSTER_DEBOUNCE_MS": "0", **env})
    lock, debouncer = locks.build(None)
    reconciler = Recording(name)
    rt = Runtime(settings, engine=None, reconciler=reconciler, lock=lock, debouncer=debouncer,  # type: ignore[arg-type]
                 limiter=None)  # type: ignore[arg-type]
    return rt, reconciler


@pytest.fixture
def brokers() -> Iterator[list[tuple[StubBroker, dramatiq.Worker]]]:
    made: list[tuple[StubBroker, dramatiq.Worker]] = []
    yield made
    for broker, worker in made:
        worker.stop()
        broker.close()
    wiring.stop_task_layer()


def started(brokers: list[tuple[StubBroker, dramatiq.Worker]]) -> StubBroker:
    broker = StubBroker()
    broker.emit_after("process_boot")
    worker = dramatiq.Worker(broker, worker_threads=1, worker_timeout=50)
    brokers.append((broker, worker))
    return broker


def test_the_actors_are_module_level_dramatiq_actors() -> None:
    source = inspect.getsource(actors)
    assert source.count("@dramatiq.actor(") == 6
    for actor, name, queue in (
        (actors.reconcile_session, "reconcile_session", actors.QUEUE),
        (actors.verify_session, "verify_session", actors.BACKGROUND_QUEUE),
        (actors.transfer_person, "transfer_person", actors.QUEUE),
        (actors.deliver_webhook, "deliver_webhook", actors.QUEUE),
        (actors.sync_feed, "sync_feed", actors.QUEUE),
        (actors.stop_channel, "stop_channel", actors.QUEUE),
    ):
        assert isinstance(actor, dramatiq.Actor) and actor.actor_name == name and actor.queue_name == queue
        assert actor.fn.__module__ == "engine.runtime.actors" and actor.fn.__qualname__ == name  # not a closure
    assert "def declare(" not in source


def test_each_broker_runs_the_actors_with_its_own_runtime(
    tmp_path: Path, brokers: list[tuple[StubBroker, dramatiq.Worker]]
) -> None:
    (rt_a, rec_a), (rt_b, rec_b) = runtime(tmp_path / "a", "a"), runtime(tmp_path / "b", "b")
    broker_a, broker_b = started(brokers), started(brokers)
    tasks_a, tasks_b = actors.bind(broker_a, rt_a), actors.bind(broker_b, rt_b)
    one, two = uuid.uuid4(), uuid.uuid4()
    assert tasks_a.enqueue(one) and tasks_b.enqueue(two)
    assert not tasks_a.enqueue(one)  # coalesced: one is already scheduled on broker a
    for _, worker in brokers:
        worker.start()
    broker_a.join(actors.QUEUE)
    broker_b.join(actors.QUEUE)
    for _, worker in brokers:
        worker.join()
    assert rec_a.seen == [one] and rec_b.seen == [two]


def test_requeues_and_retries_go_to_the_broker_that_ran_the_message(
    tmp_path: Path, brokers: list[tuple[StubBroker, dramatiq.Worker]]
) -> None:
    rt, rec = runtime(tmp_path, "a", MUSTER_RETRY_MIN_BACKOFF_MS="10", MUSTER_RETRY_MAX_BACKOFF_MS="20")
    rec.answers = [Result(outcome="success", requeue_after=timedelta(milliseconds=5)),
                   RetriableError("Google answered 503", delay=None)]
    broker = started(brokers)
    tasks = actors.bind(broker, rt)
    actors.bind(started(brokers), runtime(tmp_path / "other", "other")[0])  # bound later: owns actor.send
    brokers[0][1].start()
    sid = uuid.uuid4()
    tasks.enqueue(sid)
    broker.join(actors.QUEUE)
    brokers[0][1].join()
    assert rec.seen == [sid, sid, sid]  # run, requeued by the reconciler, then retried after the 503
    message = actors.reconcile_session.message_with_options(args=("x",))
    assert "min_backoff" not in message.options  # the deployment's backoff travels with each message:
    sent = []
    broker.enqueue = lambda message, delay=None: sent.append(message)  # type: ignore[method-assign]
    tasks.send(actors.reconcile_session, ("x",))
    assert sent[0].options["min_backoff"] == 10 and sent[0].options["max_backoff"] == 20


def test_background_reconciles_run_in_their_own_lane(
    tmp_path: Path, brokers: list[tuple[StubBroker, dramatiq.Worker]]
) -> None:
    rt, rec = runtime(tmp_path, "a")
    broker = started(brokers)
    tasks = actors.bind(broker, rt)
    sid = uuid.uuid4()
    assert tasks.enqueue(sid) and tasks.enqueue(sid, background=True)  # separate markers: neither merges
    assert not tasks.enqueue(sid, background=True)
    assert broker.queues[actors.BACKGROUND_QUEUE].qsize() + broker.queues[f"{actors.BACKGROUND_QUEUE}.DQ"].qsize() == 1
    brokers[0][1].start()
    for queue in (actors.QUEUE, actors.BACKGROUND_QUEUE):
        broker.join(queue)
    brokers[0][1].join()
    assert rec.seen == [sid] and rec.verified == [sid]


def test_running_an_actor_outside_a_bound_broker_is_refused() -> None:
    actors._current.tasks = None
    with pytest.raises(RuntimeError, match="no task layer is bound"):
        actors.reconcile_session.fn(str(uuid.uuid4()))


def test_the_composition_root_installs_and_removes_the_dispatchers(
    tmp_path: Path, brokers: list[tuple[StubBroker, dramatiq.Worker]]
) -> None:
    rt, _ = runtime(tmp_path, "a")
    tasks = wiring.start_task_layer(started(brokers), rt)
    assert current_dispatcher() == tasks.dispatch
    assert lifecycle_dispatch._dispatcher == tasks.enqueue_transfer
    assert webhook_outbox._dispatcher == tasks.dispatch_webhooks
    assert lanes._dispatcher == tasks.dispatch_background
    wiring.stop_task_layer()
    assert current_dispatcher() is None and lifecycle_dispatch._dispatcher is None
    assert webhook_outbox._dispatcher is None and lanes._dispatcher is None
