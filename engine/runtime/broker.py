"""Builds the dramatiq broker explicitly: Redis in production, a StubBroker when embedded.

Where it sits: ``runtime``, imported first by :mod:`engine.runtime.actors`. On import it makes a StubBroker
dramatiq's global broker (:data:`DECLARING_BROKER`, unless one is set already), so the module-level
``@dramatiq.actor`` functions are declared there and never on dramatiq's implicit default (RabbitMQ). The
entry points (:mod:`engine.runtime.worker`) call :func:`build_broker` for the process's real broker and hand it
to the composition root (:func:`engine.runtime.wiring.start_task_layer`), which binds the actors to it; the
broker built is also made the process's global one so any dramatiq code that asks for it finds this one.
"""

from __future__ import annotations

import dramatiq
from dramatiq.brokers.stub import StubBroker
from dramatiq.middleware import CurrentMessage

from engine.runtime.message_metrics import MessageMetrics
from engine.settings import Settings

#: Chance, per million broker commands, that one also requeues the messages of workers whose heartbeat
#: stopped. dramatiq's default (1000, i.e. 1 in 1000) with a 100 ms poll can leave a killed worker's
#: message waiting for minutes; 1 in 50 keeps that to seconds for the cost of a cheap Lua scan.
MAINTENANCE_CHANCE = 20_000


def _declaring_broker() -> dramatiq.Broker:
    """The global broker if one is set, else a new StubBroker made the global one."""
    current: dramatiq.Broker | None = dramatiq.broker.global_broker
    if current is None:
        current = StubBroker()
        dramatiq.set_broker(current)
    return current


#: Where the actors are declared when :mod:`engine.runtime.actors` is imported (no worker consumes it).
DECLARING_BROKER = _declaring_broker()


def build_broker(settings: Settings, *, heartbeat_timeout_ms: int = 60_000) -> dramatiq.Broker:
    """A new broker for ``settings`` (not shared between processes).

    ``heartbeat_timeout_ms``: how long a silent worker's unacknowledged messages stay claimed before
    another worker requeues them (a worker killed mid-message loses nothing).
    """
    broker: dramatiq.Broker
    if settings.redis_url:
        from dramatiq.brokers.redis import RedisBroker

        broker = RedisBroker(
            url=settings.redis_url,
            namespace=settings.redis_namespace,
            heartbeat_timeout=heartbeat_timeout_ms,
            maintenance_chance=MAINTENANCE_CHANCE,
        )  # type: ignore[no-untyped-call]
    else:
        broker = StubBroker()
        broker.emit_after("process_boot")
    broker.add_middleware(MessageMetrics())
    broker.add_middleware(CurrentMessage())  # the reconcile actor names the message it schedules a follow-up for
    dramatiq.set_broker(broker)
    return broker
