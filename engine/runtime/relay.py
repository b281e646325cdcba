"""The outbox relay: hands committed sync requests to the broker, in every worker and the embedded runner.

Where it sits: started by :mod:`engine.runtime.worker` next to the periodic sweep. Every
:data:`INTERVAL_S` it reads the requests that are due (:func:`engine.store.outbox.due`: never handed over,
or handed over long ago and still unsynced), enqueues each through :meth:`engine.runtime.actors.Tasks.enqueue`
(coalesced with what is already scheduled; a stale marker is taken over) and records the hand-over
(:func:`engine.store.outbox.mark_sent`); every :data:`PRUNE_EVERY` rounds it deletes what is synced. When
the broker does not answer (Redis down) the round stops at the first failure, logs one line for the whole
outage, and the next round tries again: syncs resume within about :data:`INTERVAL_S` of Redis returning.

A broker that comes back *without its data* (a Redis restart without persistence, a flush) lost every queued
and delayed message, including ones the outbox shows as handed over. Each round first asks ``broker_lost``
(:func:`redis_lost_data`: a marker key Muster keeps in Redis is missing); when it answers True, every request
is made due again (:func:`engine.store.outbox.resend_all`) and sent in that same round, so syncs resume within
about :data:`INTERVAL_S` of Redis returning instead of waiting for ``RESEND_AFTER`` or the periodic sweep.

Several relays (one per worker process) may read the same rows; the debouncer merges their sends, and the
conditional ``mark_sent`` keeps a request re-written meanwhile. No network call runs inside a database
transaction: read, commit, send, then mark in a second short transaction.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import dramatiq
import redis
from sqlalchemy.engine import Engine
from sqlmodel import Session

from engine.store import outbox

log = logging.getLogger(__name__)

#: Seconds between relay rounds.
INTERVAL_S = 1.0
#: Rounds between two prunes of synced requests.
PRUNE_EVERY = 15
#: Requests read per round.
BATCH = 500

_BROKER_DOWN = (redis.ConnectionError, redis.TimeoutError, dramatiq.errors.BrokerConnectionError, OSError)


@dataclass(frozen=True)
class RelayRound:
    due: int
    sent: int  #: messages really sent to the broker
    coalesced: int  #: requests merged into a reconcile already scheduled
    failed: bool  #: the broker did not answer


#: The marker key (under the Redis namespace) whose absence says Redis lost its data since a relay set it.
MARKER = "outbox-relay:broker-epoch"


def redis_lost_data(client: Any, namespace: str) -> Callable[[], bool]:
    """``broker_lost`` for a Redis broker: True once after Redis started empty (the marker was missing).

    Also True on the very first round of a new deployment: every waiting request is then sent once more,
    which costs at most one reconcile per session that writes nothing.
    """
    key = f"{namespace}:{MARKER}"

    def lost() -> bool:
        return bool(client.set(key, "1", nx=True))

    return lost


def relay_once(
    engine: Engine,
    enqueue: Callable[[str], bool],
    *,
    batch: int = BATCH,
    broker_lost: Callable[[], bool] | None = None,
) -> RelayRound:
    """One round: hand every due request to ``enqueue`` (True: a message was sent; False: merged)."""
    try:
        lost = broker_lost is not None and broker_lost()
    except _BROKER_DOWN:
        return RelayRound(0, 0, 0, True)
    if lost:
        with Session(engine) as db, db.begin():
            again = outbox.resend_all(db=db)
        if again:
            log.warning("outbox relay: the broker came back without its data; %d sync request(s) sent again", again)
    with Session(engine) as db:
        rows = outbox.due(db=db, limit=batch)
    if not rows:
        return RelayRound(0, 0, 0, False)
    handed: list[outbox.Due] = []
    sent = coalesced = 0
    failed = False
    for row in rows:
        try:
            if enqueue(str(row.session_id)):
                sent += 1
            else:
                coalesced += 1
        except _BROKER_DOWN:
            failed = True
            break
        handed.append(row)
    if handed:
        with Session(engine) as db, db.begin():
            outbox.mark_sent(db=db, sent=handed)
    return RelayRound(len(rows), sent, coalesced, failed)


class Relay(threading.Thread):
    """Runs :func:`relay_once` every ``interval_s`` until stopped (a daemon thread)."""

    def __init__(
        self,
        engine: Engine,
        enqueue: Callable[[str], bool],
        *,
        interval_s: float = INTERVAL_S,
        active: Callable[[], bool] | None = None,
        broker_lost: Callable[[], bool] | None = None,
    ) -> None:
        super().__init__(name="muster-outbox-relay", daemon=True)
        self._engine = engine
        self._enqueue = enqueue
        #: Whether this relay's task layer is still the process's (see :func:`engine.runtime.worker._clocks`);
        #: a relay whose task layer was replaced or torn down idles instead of sending for it.
        self._active = active or (lambda: True)
        self._interval = interval_s
        self._broker_lost = broker_lost
        self._halt = threading.Event()
        self._broker_down = False

    def run(self) -> None:
        rounds = 0
        while not self._halt.wait(self._interval):
            if not self._active():
                continue  # another task layer is installed now (or none): not ours to send for
            rounds += 1
            try:
                result = relay_once(self._engine, self._enqueue, broker_lost=self._broker_lost)
                if result.failed and not self._broker_down:
                    log.warning("outbox relay: the broker does not answer; %d sync request(s) wait", result.due)
                elif self._broker_down and not result.failed:
                    log.info("outbox relay: the broker answers again; %d sync request(s) sent", result.sent)
                self._broker_down = result.failed
                if rounds % PRUNE_EVERY == 0:
                    with Session(self._engine) as db, db.begin():
                        outbox.prune(db=db)
            except Exception as exc:  # the database is away: try again next round
                log.warning("outbox relay round failed: %s", str(exc).splitlines()[0] if str(exc) else exc)

    def stop(self) -> None:
        self._halt.set()
