"""A dramatiq middleware that records broker metrics into Muster's registry (:mod:`engine.runtime.metrics`).

Where it sits: added to every broker by :func:`engine.runtime.broker.build_broker`, so the Redis workers and the
embedded worker report the same series: the queue wait of each message (from when it was due to when a
worker started it), the messages in progress, and each message's outcome (``ok``, ``retry``, ``error``).
dramatiq's own Prometheus middleware is not used: it runs a second HTTP server with its own registry,
while these series share the worker's one endpoint and the Health page's reading.
"""

from __future__ import annotations

import time
from typing import Any

import dramatiq
from dramatiq.middleware import Middleware

from engine.runtime import metrics


def due_at_ms(message: Any) -> float | None:
    """When ``message`` became due (epoch ms): the end of its delay, else when it was sent."""
    eta = message.options.get("eta")
    if eta:
        return float(eta)
    stamp = getattr(message, "message_timestamp", None)
    return float(stamp) if stamp else None


class MessageMetrics(Middleware):
    def before_process_message(self, broker: Any, message: Any) -> None:
        due = due_at_ms(message)
        metrics.message_started(message.actor_name, None if due is None else time.time() - due / 1000)

    def after_process_message(
        self, broker: Any, message: Any, *, result: Any = None, exception: BaseException | None = None
    ) -> None:
        outcome = "ok"
        if exception is not None:
            outcome = "retry" if isinstance(exception, dramatiq.Retry) else "error"
        metrics.message_finished(message.actor_name, outcome)

    def after_skip_message(self, broker: Any, message: Any) -> None:
        metrics.message_finished(message.actor_name, "skipped")
