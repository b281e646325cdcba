"""A session whose lock another worker holds gets one follow-up, however often its message is delivered.

Where it sits: ``tests/unit/engine``; the reconcile actor of :mod:`engine.runtime.actors` on a StubBroker with
the in-memory lock and debouncer (no Redis, no Google: the lock is held, so nothing is read or written).
Deliveries are run the way a dramatiq worker runs them (the ``CurrentMessage`` middleware around the actor), so
the same message can be delivered twice, as when a worker's heartbeat lapses and another worker takes its
messages over.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import dramatiq
from dramatiq.middleware import CurrentMessage

from engine.runtime.actors import QUEUE, Tasks, _CurrentTasks, bind
from engine.runtime.broker import build_broker
from engine.runtime.wiring import build_runtime
from engine.settings import load_settings


def _tasks(tmp_path: Path) -> Tasks:
    settings = load_settings({"MUSTER_VAR_DIR": str(tmp_path), "MUSTER_SECRET_KEY": "k" * 40,
                              "MUSTER_DATABASE_URL": f"sqlite:///{tmp_path / 'busy.db'}"})
    return bind(build_broker(settings), build_runtime(settings))


def _deliver(tasks: Tasks, message: dramatiq.Message) -> None:  # type: ignore[type-arg]
    """Run one delivery of ``message`` as a worker thread does (the current message is set around it)."""
    around = [m for m in tasks.broker.middleware if isinstance(m, CurrentMessage | _CurrentTasks)]
    for m in around:
        m.before_process_message(tasks.broker, message)
    try:
        tasks.reconcile_session.fn(*message.args)
    finally:
        for m in around:
            m.after_process_message(tasks.broker, message)


def _scheduled(tasks: Tasks, session_id: str) -> list[dramatiq.Message]:  # type: ignore[type-arg]
    queue = tasks.broker.queues[f"{QUEUE}.DQ"]  # type: ignore[attr-defined]
    out = []
    for raw in list(queue.queue):
        message = dramatiq.Message.decode(raw)
        if message.args == (session_id,):
            out.append(message)
    return out


def test_a_message_delivered_twice_while_the_lock_is_held_schedules_one_follow_up(tmp_path: Path) -> None:
    tasks = _tasks(tmp_path)
    sid = str(uuid.uuid4())
    token = tasks.runtime.lock.acquire(sid, 30)  # another worker is reconciling this session
    assert token is not None
    first = tasks.reconcile_session.message(sid)
    _deliver(tasks, first)
    _deliver(tasks, first)  # the same message again (taken over from a worker thought dead)
    [follow] = _scheduled(tasks, sid)
    # The follow-up's own deliveries continue the chain once each; a second delivery of it ends there
    _deliver(tasks, follow)
    _deliver(tasks, follow)
    assert len(_scheduled(tasks, sid)) == 2  # the follow-up (still queued here) and the one it scheduled
    # Another message of the same session (a new change) merges into the scheduled follow-up
    _deliver(tasks, tasks.reconcile_session.message(sid))
    assert len(_scheduled(tasks, sid)) == 2
    tasks.runtime.lock.release(sid, token)
