"""The executor: runs the planner's ops through calendar ports and says what happened.

Where it sits: :mod:`engine.sync.reconciler` calls :func:`apply` with the ops of :func:`engine.domain.plan.plan`
and a :data:`~connectors.ports.calendar.CalendarPortFactory`. Each op is applied once; the result's ``outcome``
completes the sentence "the event was …": ``unchanged``, ``created``, ``adopted``, ``updated``,
``restored``, ``moved`` or ``deleted``.

The one recovery done here: an insert that meets ``AlreadyExistsError`` (its earlier attempt was applied
but the answer lost, or another worker won a race) reads the event that holds the id. If it carries
Muster's marker for the same session it is *adopted*: re-planned against the desired event and
converged with at most the patches the planner asks for. An id held by an event without the marker is
a permanent error (Muster never touches events it does not own). A move is made idempotent the same way
(:func:`move_once`): a failed move reads the destination, where a move keeps the id. Every other error
propagates, already classified by the connector: a patch refused because the event changed since it
was planned (``StaleEtagError``, 412 on ``If-Match``) goes back to the reconciler, which reads and plans again.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from connectors.ports.calendar import Actor, CalendarPort, CalendarPortFactory, RemoteEvent, SendUpdates
from engine.domain.event_ids import owned_session
from engine.domain.plan import CreateEvent, DeleteEvent, MoveEvent, Noop, ObservedEvent, Op, PatchEvent, plan
from engine.errors import AlreadyExistsError, AuthError, ConnectorError, PermanentError
from engine.runtime import steps
from policies.notifications import NotificationPolicy


@dataclass(frozen=True)
class OpResult:
    op: Op
    outcome: str  #: unchanged | created | adopted | updated | restored | moved | deleted
    remote: RemoteEvent | None = None


class _Ports:
    """One port per actor for the duration of an apply (ports are not thread-safe; this stays local)."""

    def __init__(self, factory: CalendarPortFactory) -> None:
        self._factory = factory
        self._ports: dict[Actor, CalendarPort] = {}

    def __call__(self, actor: Actor) -> CalendarPort:
        port = self._ports.get(actor)
        if port is None:
            port = self._ports[actor] = self._factory(actor)
        return port


def _create(op: CreateEvent, ports: _Ports, policy: NotificationPolicy) -> list[OpResult]:
    d = op.desired
    port = ports(d.actor)
    try:
        remote = port.insert(d.calendar_id, d.event_id, d.spec, send_updates=op.send_updates)
        return [OpResult(op, "created", remote)]
    except AlreadyExistsError:
        existing = port.get(d.calendar_id, d.event_id)
    if existing is None:
        raise PermanentError(
            f"Google reported event {d.event_id} as existing on {d.calendar_id} but cannot return it",
            reason="duplicate",
        )
    if owned_session(existing.private) != (d.tenant_id, d.session_id):
        raise PermanentError(
            f"event id {d.event_id} on {d.calendar_id} belongs to an event Muster does not own; "
            "it was left untouched",
            reason="duplicate",
        )
    follow = [
        o for o in plan([d], [ObservedEvent(d.actor, existing)], policy) if not isinstance(o, CreateEvent)
    ]
    results = [OpResult(op, "adopted", existing)]
    for nxt in follow:
        results.extend(_apply_one(nxt, ports, policy))
    return results


def _apply_one(
    op: Op, ports: _Ports, policy: NotificationPolicy, etags: dict[tuple[str, str], str] | None = None
) -> list[OpResult]:
    if isinstance(op, Noop):
        return [OpResult(op, "unchanged")]
    if isinstance(op, CreateEvent):
        return _create(op, ports, policy)
    if isinstance(op, PatchEvent):
        d = op.desired
        # Conditional on the etag the op was planned against, or on the one the previous write of this
        # apply got back for the same event (a split patch, a patch after a move).
        if_match = (etags or {}).get((d.calendar_id, d.event_id), op.if_match) if op.if_match else None
        remote = ports(d.actor).patch(
            d.calendar_id,
            d.event_id,
            d.spec,
            op.fields,
            send_updates=op.send_updates,
            status="confirmed" if op.restore else None,
            if_match=if_match,
        )
        return [OpResult(op, "restored" if op.restore else "updated", remote)]
    if isinstance(op, DeleteEvent):
        ports(op.actor).delete(op.calendar_id, op.event_id, send_updates=op.send_updates)
        return [OpResult(op, "deleted")]
    if isinstance(op, MoveEvent):
        remote = move_once(ports(op.actor), op.calendar_id, op.event_id, op.destination, op.send_updates)
        return [OpResult(op, "moved", remote)]
    raise TypeError(f"unknown op {op!r}")  # pragma: no cover - the Op union is closed


def move_once(
    port: CalendarPort,
    calendar_id: str,
    event_id: str,
    destination: str,
    send_updates: SendUpdates,
    owner: tuple[uuid.UUID, uuid.UUID] | None = None,
) -> RemoteEvent:
    """``events.move`` made idempotent: when the call fails (its answer lost, or a retry finds the source
    already cancelled because the first attempt moved it), read the destination (a move keeps the id). The
    event there, live and carrying Muster's marker (of ``owner``'s session when given), means the move
    happened: that is the answer. Otherwise the original error propagates; the caller never falls through
    to recreating an event that may already be where it belongs."""
    try:
        return port.move(calendar_id, event_id, destination, send_updates=send_updates)
    except AuthError:
        raise
    except ConnectorError as exc:
        try:
            there = port.get(destination, event_id)
        except ConnectorError:
            raise exc from None
        mine = owned_session(there.private) if there is not None else None
        if there is None or there.is_cancelled or mine is None or (owner is not None and mine != owner):
            raise
        return there


def apply(
    ops: Sequence[Op],
    factory: CalendarPortFactory,
    policy: NotificationPolicy | None = None,
    results: list[OpResult] | None = None,
) -> list[OpResult]:
    """Run ``ops`` in order; stop at the first error (already classified), which propagates.

    Pass ``results`` to keep what was done before an error (the caller records that progress).
    """
    policy = policy or NotificationPolicy()
    ports = _Ports(factory)
    out = results if results is not None else []
    etags: dict[tuple[str, str], str] = {}
    for op in ops:
        done = _apply_one(op, ports, policy, etags)
        out.extend(done)
        for res in done:
            if res.remote is not None and res.remote.etag:
                etags[(res.remote.calendar_id, res.remote.event_id)] = res.remote.etag
        if any(r.outcome != "unchanged" for r in done):
            steps.reached("apply.wrote")  # a write answered, not yet recorded
    return out


def final_remote(results: Sequence[OpResult]) -> RemoteEvent | None:
    """The last event state Google returned (for etag and Meet/room status), if any."""
    for res in reversed(results):
        if res.remote is not None:
            return res.remote
    return None
