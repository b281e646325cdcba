"""Proof, step by step: every write path survives a lost answer at each Google call and a worker that dies
between each pair of its steps.

Where it sits: ``tests/integration/lifecycle`` (organizer delegation over OAuth, the real reconciler and the
organizer transfer against the emulator, SQLite and PostgreSQL). One table, :data:`PATHS`, lists each write
path with the number of Google requests it makes and the steps (:mod:`engine.runtime.steps`) it passes; the
scenarios are generated from it:

* ``lost:<api>:<k>``: the emulator applies the path's ``k``-th request to that API, then drops the connection
  before any answer byte (``lost_rate`` with ``skip``: the first ``k`` matching requests pass untouched);
* ``died:<k>``: the path's ``k``-th step raises :class:`engine.runtime.steps.WorkerDied`, so nothing after it
  runs or commits, as when the worker is killed there.

Then the session converges the way workers and sweeps make it converge (reconciles, lifecycle sweeps; a mode
switch through its own retry, applying the switch again, whose progress record must end ``done``), and
the invariants are checked: exactly one live Muster event for the session (none once cancelled), where the
binding says; attendees = hosts + enrolled learners; every RSVP given before kept; at most one e-mail per
guest for the change; no other Muster event on any calendar; the one room the binding names, accepted, never
one that declined (no room when none is wanted). ``test_the_table_matches_each_path`` records
each path without faults and fails when the table no longer describes it, so the matrix cannot go stale.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest
from sqlmodel import Session, select

from connectors.errors import ConnectorError
from engine.admin.mode_switch import apply_switch, preview_switch, switch_status
from engine.delegation import mode_switch
from engine.runtime import steps
from engine.store.models import CalendarBinding, ModeSwitch, ModeSwitchStatus, Tenant
from engine.store.types import utcnow
from tests.integration.lifecycle.conftest import LEARNERS, ROOM, Life

#: A mode switch: the new event is written, then the old one deleted, in one reconcile.
SWITCH_STEPS = ("reconcile.observed", "reconcile.intended", "apply.wrote", "apply.wrote", "reconcile.recorded")
RADIA, GRACE = "radia.backus10@acme.example", "grace.lamport2@acme.example"
HOSTS = [RADIA, GRACE]
NEWCOMER = "ada.noether77@acme.example"
CHOSEN = ROOM  #: Curie, BER-HQ: the room the organizer chose
PICKED = "c_3a0c25b6bc8470ff52ab373e@resource.calendar.google.com"  #: Dirac, BER-HQ: the organizer's next pick
VENDOR = "calendar-owner-1@muster-vendor.example"  #: the vendor owner account (vendor mode)
CALENDARS = (RADIA, GRACE, VENDOR)
START, END = "2027-02-01T10:00:00+01:00", "2027-02-01T11:00:00+01:00"
LATER = ("2027-02-03T14:00:00+01:00", "2027-02-03T15:00:00+01:00")
#: Google APIs whose requests are counted and faulted, by the emulator path pattern they match.
APIS = {"calendar": "/calendar/v3/**", "admin": "/admin/**"}


@dataclass
class Case:
    """A session before the write path runs, and what must hold once it has converged."""

    sid: uuid.UUID
    learners: list[str]
    answers: dict[str, str] = field(default_factory=dict)  #: RSVPs given before the write path
    owner: str = RADIA  #: the calendar the event must end on
    #: Hosts listed as guests at the end (the organizer is implicit): the co-host; after a planned departure the
    #: leaving organizer (still an active account and still a host on the platform); never a suspended or
    #: deleted account.
    host_guests: frozenset[str] = frozenset({GRACE})
    #: Calendars of deleted accounts: Google keeps their events and nobody can change them any more.
    gone: tuple[str, ...] = ()
    live: bool = True
    start: str = START
    end: str = END
    cancelled: bool = False
    video: str = "none"  #: "meet": the event must end with the Meet link the binding names
    room: dict[str, Any] | None = None  #: the room the session needs (policy picks one); None: no room
    declined_room: str | None = None  #: a room that declined: it must not be the one booked at the end
    switch_id: uuid.UUID | None = None  #: the mode switch the write path applied (its record must end done)
    #: Vendor mode at the end with Meet and a room wanted: no link, no room, the binding says why.
    vendor_limits: bool = False
    waited: str | None = None  #: the session's progress after the first apply of a switch that had to wait
    #: How an interrupted switch is retried: applied again (True), or the worker's retries of the queued session
    #: (False: a switch applied through the admin service, which queues each session for the worker).
    reapply: bool = True


def _put(life: Life, case: Case, *, hosts: list[str] = HOSTS) -> None:
    body: dict[str, Any] = {
        "title": "Session matrix", "description": "Live session.", "timeZone": "Europe/Berlin",
        "start": case.start, "end": case.end, "organizer": hosts[0], "coHosts": hosts[1:], "video": case.video,
        "status": "cancelled" if case.cancelled else "scheduled",
        "enrollments": [{"email": e, "status": "enrolled"} for e in case.learners],
    }
    if case.room is not None:
        body["room"] = case.room
    resp = life.request("PUT", "/v1/sessions/s-matrix", body)
    assert resp.status_code in (200, 201), resp.text


def _synced(life: Life, video: str = "none", room: dict[str, Any] | None = None) -> Case:
    """A synced session whose first learner accepted (with a comment) and second declined."""
    for who in HOSTS:
        life.connect(who)
    case = Case(sid=uuid.uuid4(), learners=list(LEARNERS), video=video, room=room)
    _put(life, case)
    case.sid = life.session_id("s-matrix")
    assert life.settle(case.sid).outcome == "success"
    binding = life.binding(case.sid)
    assert binding.event_id
    assert life.emu.world.set_attendee_response(RADIA, binding.event_id, LEARNERS[0], "accepted", "count me in")
    assert life.emu.world.set_attendee_response(RADIA, binding.event_id, LEARNERS[1], "declined")
    case.answers = {LEARNERS[0]: "accepted", LEARNERS[1]: "declined"}
    return case


# ---------------------------------------------------------------------------------------------- write paths
def _create_prepare(life: Life) -> Case:
    for who in HOSTS:
        life.connect(who)
    case = Case(sid=uuid.uuid4(), learners=list(LEARNERS))
    _put(life, case)
    case.sid = life.session_id("s-matrix")
    return case


def _reconcile(life: Life, case: Case) -> None:
    life.reconciler.reconcile(case.sid)


def _settle(life: Life, case: Case) -> None:
    """Reconcile until nothing asks for a requeue (a room that declined is recorded, then replaced)."""
    life.settle(case.sid)


def _enroll(life: Life, case: Case) -> None:
    case.learners = [*case.learners, NEWCOMER]
    _put(life, case)
    life.reconciler.reconcile(case.sid)


def _reschedule(life: Life, case: Case) -> None:
    case.start, case.end = LATER
    _put(life, case)
    life.reconciler.reconcile(case.sid)


def _cancel(life: Life, case: Case) -> None:
    case.cancelled, case.live = True, False
    _put(life, case)
    life.reconciler.reconcile(case.sid)


def _synced_read(life: Life) -> Case:
    """:func:`_synced`, then a full verification that reads the event: Muster stores the learners' answers."""
    case = _synced(life)
    assert life.reconciler.reconcile(case.sid, verify=True).outcome == "success"
    return case


def _organizer_deleted(life: Life, case: Case) -> None:
    """The organizer's account is deleted: their calendar is gone, the event is recreated on the successor's
    (a new event carrying the answers Muster stored, since the old one cannot be read)."""
    case.owner, case.gone, case.host_guests = GRACE, (RADIA,), frozenset()
    life.emu.control("DELETE", f"users/{RADIA}")
    life.sweep()


def _meet_failed(life: Life) -> Case:
    """A synced session whose Meet link Google failed to create; Google works again and the retry is due."""
    life.emu.world.options.conference_failure_rate = 1.0
    try:
        case = _synced(life, video="meet")
    finally:
        life.emu.world.options.conference_failure_rate = 0.0
    with Session(life.engine) as db:
        binding = db.exec(select(CalendarBinding).where(CalendarBinding.session_id == case.sid)).one()
        assert binding.meet_status == "failure" and binding.next_attempt_at is not None
        past = utcnow() - timedelta(seconds=1)  # its backoff has passed
        binding.next_attempt_at = past
        binding.blocked_detail = {**(binding.blocked_detail or {}), "meet_retry_at": past.isoformat()}
        db.add(binding)
        db.commit()
    return case


def _room_declined(life: Life, room: dict[str, Any] | None = None) -> Case:
    """A synced session with a room policy chose; the room then declines (its calendar says no)."""
    case = _synced(life, room=room or {"building": "BER-HQ"})
    binding = life.binding(case.sid)
    assert binding.room_email and binding.room_status == "accepted", binding.room_error
    case.declined_room = binding.room_email
    assert binding.event_id
    assert life.emu.world.set_attendee_response(RADIA, binding.event_id, binding.room_email, "declined")
    with Session(life.engine) as db:  # the change feed notes the change: the next reconcile reads the event
        row = db.exec(select(CalendarBinding).where(CalendarBinding.session_id == case.sid)).one()
        row.remote_changed_at = utcnow()
        db.add(row)
        db.commit()
    return case


def _chosen_room_declined(life: Life) -> Case:
    """A synced session in the room the organizer chose; the room declines: Muster takes it off the event, books
    no other and asks for another pick (docs/integration-modes.md)."""
    case = _room_declined(life, room={"email": CHOSEN})
    assert life.settle(case.sid).outcome == "success"
    binding = life.binding(case.sid)
    assert (binding.room_email, binding.room_status) == (None, "declined"), (binding.room_email, binding.room_status)
    assert f"the room you picked ({CHOSEN}) declined; pick another room" in (binding.room_error or "")
    event = life.event(RADIA, binding.event_id or "")
    assert event is not None and [a for a in event.get("attendees") or [] if a.get("resource")] == []
    return case


def _pick_another_room(life: Life, case: Case) -> None:
    """The organizer picks another room: it replaces the declined one in the guest list."""
    case.room = {"email": PICKED}
    _put(life, case)
    life.settle(case.sid)


def _allow_vendor(life: Life) -> None:
    """Muster's own Workspace lets its service account act as the vendor owner account."""
    client_id = life.emu.world.service_accounts[next(iter(life.emu.world.service_accounts))].client_id
    life.emu.world.add_delegation_grant(client_id, "muster-vendor.example",
                                        ["https://www.googleapis.com/auth/calendar"])
    life.set_tenant(vendor_owner_emails=[VENDOR])


def _vendor_synced(
    life: Life, *, video: str = "none", room: dict[str, Any] | None = None, connected: bool = True
) -> Case:
    """A session synced in vendor mode (the vendor owner's calendar, hosts as guests; hosts connected unless
    ``connected`` is false) whose learners and co-host answered."""
    _allow_vendor(life)
    life.set_tenant(integration_mode="vendor")
    if connected:
        for who in HOSTS:
            life.connect(who)
    case = Case(sid=uuid.uuid4(), learners=list(LEARNERS), video=video, room=room)
    _put(life, case)
    case.sid = life.session_id("s-matrix")
    assert life.settle(case.sid).outcome == "success"
    binding = life.binding(case.sid)
    assert binding.calendar_id == VENDOR and binding.event_id
    assert life.emu.world.set_attendee_response(VENDOR, binding.event_id, LEARNERS[0], "accepted", "count me in")
    assert life.emu.world.set_attendee_response(VENDOR, binding.event_id, LEARNERS[1], "declined")
    assert life.emu.world.set_attendee_response(VENDOR, binding.event_id, GRACE, "tentative")
    case.answers = {LEARNERS[0]: "accepted", LEARNERS[1]: "declined", GRACE: "tentative"}
    return case


def _vendor_synced_meet_room(life: Life) -> Case:
    """Vendor mode with Meet and a room wanted: vendor mode provides neither and says so on the binding."""
    case = _vendor_synced(life, video="meet", room={"building": "BER-HQ"})
    binding = life.binding(case.sid)
    assert (binding.meet_status, binding.room_status, binding.meet_link) == ("unsupported", "unsupported", None)
    return case


def _vendor_synced_unconnected(life: Life) -> Case:
    """Vendor mode; no host has connected Google yet (the tenant delegates by organizer consent, OAuth)."""
    return _vendor_synced(life, connected=False)


def _delegation_synced(life: Life, video: str = "none", room: dict[str, Any] | None = None) -> Case:
    """A session synced in organizer delegation whose learners answered (:func:`_synced`) and co-host said maybe."""
    case = _synced(life, video=video, room=room)
    event_id = life.binding(case.sid).event_id
    assert event_id and life.emu.world.set_attendee_response(RADIA, event_id, GRACE, "tentative")
    case.answers[GRACE] = "tentative"
    _allow_vendor(life)
    return case


def _switch(life: Life, case: Case, target: str) -> None:
    with Session(life.engine, expire_on_commit=False) as db:
        tenant = db.get(Tenant, life.tenant_id)
        assert tenant is not None
        preview = mode_switch.preview(db, tenant=tenant, target=target, settings=life.settings, requested_by="test")
        db.commit()
    case.switch_id = preview.id
    mode_switch.apply(life.engine, switch_id=preview.id, reconcile=life.reconciler.reconcile)


def _delegation_synced_meet_room(life: Life) -> Case:
    """Organizer delegation with a Meet link and a room policy booked (accepted)."""
    case = _delegation_synced(life, video="meet", room={"building": "BER-HQ"})
    binding = life.binding(case.sid)
    assert binding.meet_status == "success" and binding.meet_link and binding.room_status == "accepted"
    return case


def _to_delegation(life: Life, case: Case) -> None:
    """The event is recreated on the organizer's calendar, carrying every guest's answer."""
    case.owner = RADIA
    _switch(life, case, "delegation")


def _to_delegation_by_the_admin_api(life: Life, case: Case) -> None:
    """What every interface does (``muster tenant switch-mode``, ``/v1/admin/mode-switch``, the Integration page):
    the admin service previews and applies; the mode flips and the session is queued after the commit; a worker
    reconciles it (and retries it after a fault). The record follows from the bindings."""
    case.owner, case.reapply = RADIA, False
    preview = preview_switch(life.settings, life.engine, life.tenant_id, "delegation", actor="test")
    assert preview.ok and preview.switch_id, preview.message
    case.switch_id = uuid.UUID(preview.switch_id)
    queued: list[uuid.UUID] = []
    applied = apply_switch(life.settings, life.engine, life.tenant_id, "delegation", actor="test",
                           confirm="delegation", switch_id=preview.switch_id, dispatcher=_queue(queued))
    assert applied.ok and queued == [case.sid], (applied.message, queued)
    for sid in queued:  # the worker takes the message
        life.reconciler.reconcile(sid)


def _queue(into: list[uuid.UUID]) -> Callable[[list[uuid.UUID]], None]:
    return into.extend


def _to_delegation_once_connected(life: Life, case: Case) -> None:
    """The switch finds nobody to act as: the session waits (its vendor event stays) and says who could
    connect; the organizer connects (as the OAuth callback stores it) and the switch, applied again, moves it."""
    case.owner = RADIA
    try:
        _switch(life, case, "delegation")
        with Session(life.engine) as db:
            row = db.get(ModeSwitch, case.switch_id)
            assert row is not None
            case.waited = row.progress[str(case.sid)]
    finally:
        life.connect(RADIA)
    mode_switch.apply(life.engine, switch_id=case.switch_id, reconcile=life.reconciler.reconcile)


def _to_vendor_without_meet_or_room(life: Life, case: Case) -> None:
    """To vendor mode: the new event has no Meet link and no room (a vendor account can create neither; the
    room is released with the old event), and the binding says why (docs/mode-switch.md)."""
    case.owner, case.host_guests = VENDOR, frozenset(HOSTS)
    case.video, case.room, case.vendor_limits = "none", None, True
    _switch(life, case, "vendor")


def _to_vendor(life: Life, case: Case) -> None:
    """The event is recreated on the vendor owner's calendar, both hosts as guests, carrying every guest's
    answer (the organizer, who owned the old event and gave no answer, is invited)."""
    case.owner, case.host_guests = VENDOR, frozenset(HOSTS)
    _switch(life, case, "vendor")


def _departure(life: Life, case: Case) -> None:
    case.owner, case.host_guests = GRACE, frozenset({RADIA})
    assert life.request("PUT", f"/v1/people/{RADIA}/departure", {}).status_code == 200
    life.sweep()


def _suspension(life: Life, case: Case) -> None:
    case.owner = GRACE
    life.emu.control("POST", f"users/{RADIA}/suspend", {"reason": "ADMIN"})
    life.sweep()


@dataclass(frozen=True)
class WritePath:
    prepare: Callable[[Life], Case]
    act: Callable[[Life, Case], None]
    calls: dict[str, int]  #: Google requests the path makes, per API of :data:`APIS`
    steps: tuple[str, ...]  #: the steps it passes, in order
    transfer: bool = False  #: converges through lifecycle sweeps as well as reconciles


#: The table: each write path, the Google requests it makes and the steps it passes (checked by
#: :func:`test_the_table_matches_each_path`).
PATHS: dict[str, WritePath] = {
    "create": WritePath(_create_prepare, _reconcile, {"calendar": 1, "admin": 0},
                        ("reconcile.observed", "reconcile.intended", "apply.wrote", "reconcile.recorded")),
    # A patch is sent against the event as last written (its etag); the guests' answers changed it since, so
    # Google answers 412, and the event is read and the patch planned again.
    "patch (enroll)": WritePath(_synced, _enroll, {"calendar": 3, "admin": 0},
                                ("reconcile.observed", "reconcile.observed", "apply.wrote", "reconcile.recorded")),
    "patch (reschedule)": WritePath(_synced, _reschedule, {"calendar": 3, "admin": 0},
                                    ("reconcile.observed", "reconcile.observed", "apply.wrote",
                                     "reconcile.recorded")),
    "delete": WritePath(_synced, _cancel, {"calendar": 2, "admin": 0},
                        ("reconcile.observed", "apply.wrote", "reconcile.recorded")),
    "recreate": WritePath(_synced_read, _organizer_deleted, {"calendar": 2, "admin": 2},
                          ("transfer.old_cancelled", "transfer.rebound", "reconcile.observed", "reconcile.intended",
                           "apply.wrote", "reconcile.recorded"), transfer=True),
    "meet retry": WritePath(_meet_failed, _reconcile, {"calendar": 2, "admin": 0},
                            ("reconcile.observed", "apply.wrote", "reconcile.recorded")),
    # The first reconcile reads the event and records the decline; the next chooses a free room (the
    # Directory's rooms, free/busy) and patches it in; the last reads the new room's answer.
    "room rebooking": WritePath(_room_declined, _settle, {"calendar": 5, "admin": 1},
                                ("reconcile.observed", "reconcile.recorded", "reconcile.observed", "apply.wrote",
                                 "reconcile.recorded", "reconcile.observed", "reconcile.recorded")),
    # A switch recreates the event where the new mode wants it (with the guests' answers) and deletes the old one
    # in the same reconcile.
    "mode switch (to delegation)": WritePath(_vendor_synced, _to_delegation, {"calendar": 4, "admin": 0}, SWITCH_STEPS),
    "mode switch (to vendor)": WritePath(_delegation_synced, _to_vendor, {"calendar": 4, "admin": 0}, SWITCH_STEPS),
    # The same switch applied through the admin service: a worker moves the session and retries it after a fault.
    "mode switch (admin API, worker)": WritePath(_vendor_synced, _to_delegation_by_the_admin_api,
                                                 {"calendar": 4, "admin": 0}, SWITCH_STEPS),
    # Nobody can be acted as yet: the first apply leaves the session waiting (no Google request, no step); the
    # organizer connects and the switch applied again recreates the event on their calendar.
    "mode switch (waits for consent)": WritePath(_vendor_synced_unconnected, _to_delegation_once_connected,
                                                 {"calendar": 4, "admin": 0}, SWITCH_STEPS),
    # To delegation, a Meet link is created and a room booked on the new event; to vendor both are dropped.
    "mode switch (to delegation, Meet and room)": WritePath(_vendor_synced_meet_room, _to_delegation,
                                                            {"calendar": 5, "admin": 1}, SWITCH_STEPS),
    "mode switch (to vendor, Meet and room)": WritePath(_delegation_synced_meet_room, _to_vendor_without_meet_or_room,
                                                        {"calendar": 4, "admin": 0}, SWITCH_STEPS),
    # The room the organizer chose declined (taken off the event, not replaced by policy); the organizer picks
    # another (the Directory names it), which is patched in with everyone's answers; the last reconcile reads
    # its answer.
    "room rebooking (organizer's pick)": WritePath(_chosen_room_declined, _pick_another_room,
                                                   {"calendar": 2, "admin": 1},
                                                   ("reconcile.observed", "apply.wrote", "reconcile.recorded",
                                                    "reconcile.observed", "reconcile.recorded")),
    "move": WritePath(_synced, _departure, {"calendar": 5, "admin": 2},
                      ("transfer.moved", "transfer.rebound", "reconcile.observed", "apply.wrote", "reconcile.recorded"),
                      transfer=True),
    "data transfer": WritePath(_synced, _suspension, {"calendar": 3, "admin": 5},
                               ("transfer.data_transferred", "transfer.rebound", "reconcile.observed", "apply.wrote",
                                "reconcile.recorded"), transfer=True),
}


def _scenarios() -> Iterator[Any]:
    for name, path in PATHS.items():
        for api, n in path.calls.items():
            for k in range(n):
                yield pytest.param(name, f"lost:{api}:{k}", id=f"{name}-lost-{api}-{k}")
        for k, step in enumerate(path.steps):
            yield pytest.param(name, f"died:{k}", id=f"{name}-died-{k}-{step}")


SCENARIOS = list(_scenarios())


# ---------------------------------------------------------------------------------------------- harness
class _Recorder:
    def __init__(self, die_at: int | None = None) -> None:
        self.seen: list[str] = []
        self.die_at = die_at

    def __call__(self, step: str) -> None:
        self.seen.append(step)
        if self.die_at is not None and len(self.seen) - 1 == self.die_at:
            raise steps.WorkerDied(step)


def _count_rules() -> list[dict[str, Any]]:
    """Rules that fault nothing (they skip every request) and count what each API receives."""
    return [{"method": "*", "path": p, "lost_rate": 1.0, "skip": 1_000_000} for p in APIS.values()]


def _run(
    life: Life, path: WritePath, case: Case, recorder: _Recorder, rules: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Run the write path once under ``rules`` and ``recorder``; returns the rules with their counts."""
    life.emu.faults(rules)
    steps.install(recorder)
    try:
        path.act(life, case)
    except (ConnectorError, steps.WorkerDied):
        pass  # what a lost answer or a dead worker leaves: the next runs converge
    finally:
        steps.install(None)
        counted: list[dict[str, Any]] = life.emu.control("GET", "faults")["rules"]
        life.emu.clear_faults()
    return counted


def _converge(life: Life, path: WritePath, case: Case) -> None:
    for _ in range(6):
        if case.switch_id is not None and case.reapply:  # the switch's own retry: apply it again (done: a no-op)
            switch = mode_switch.apply(life.engine, switch_id=case.switch_id, reconcile=life.reconciler.reconcile)
            if switch.status != ModeSwitchStatus.DONE.value:
                continue  # the sessions are moved by the switch, not by plain reconciles
        if path.transfer:
            life.sweep()
        try:
            life.settle(case.sid)
        except ConnectorError:
            continue
    result = life.reconciler.reconcile(case.sid)
    assert result.outcome == "success" and result.writes == 0, result


def _check(life: Life, case: Case, mark: int) -> None:
    live = []
    for cal in (c for c in CALENDARS if c not in case.gone):
        live += [(cal, e) for e in life.emu.events(cal)
                 if (e.get("extendedProperties") or {}).get("private", {}).get("musterOwner") == "muster"]
    ours = [(cal, e) for cal, e in live if e["extendedProperties"]["private"].get("musterSession") == str(case.sid)]
    assert len(ours) == len(live), "a Muster event no session owns (orphan)"
    binding = life.binding(case.sid)
    if not case.live:
        assert ours == []
    else:
        [(cal, event)] = ours  # exactly one live event
        assert cal == case.owner
        assert (binding.calendar_id, binding.event_id) == (cal, event["id"])
        guests = event.get("attendees") or []
        rooms = [a["email"] for a in guests if a.get("resource")]
        attendees = {a["email"]: a.get("responseStatus") for a in guests if not a.get("resource")}
        if case.room is None:
            assert rooms == [], rooms
        else:  # one room, the one the binding names, which accepted; never one that declined
            assert rooms == [binding.room_email] and binding.room_status == "accepted", (rooms, binding.room_error)
            assert (binding.room_email or "").lower() != (case.declined_room or "").lower()
        extra, missing = set(attendees) - set(case.learners), set(case.learners) - set(attendees)
        assert (extra, missing) == (set(case.host_guests), set()), "hosts listed, learners missing"
        for who, answer in case.answers.items():
            assert attendees[who] == answer, f"{who} answered {answer}, Google now shows {attendees[who]}"
        if case.room is not None and case.room.get("email"):  # the room the organizer picked
            assert (binding.room_email or "").lower() == case.room["email"].lower()
        if case.video == "meet":  # one working link, the one the binding names
            assert binding.meet_status == "success" and binding.meet_link
            assert event.get("hangoutLink") == binding.meet_link
        if case.vendor_limits:  # no link, no room, and the binding says why
            assert not event.get("hangoutLink") and not event.get("conferenceData")
            assert (binding.meet_link, binding.room_email) == (None, None)
            assert (binding.meet_status, binding.room_status) == ("unsupported", "unsupported")
        if case.waited is not None:  # the first apply: the session waited, naming who could connect
            assert case.waited.startswith("waiting: ") and "no connected organizer" in case.waited, case.waited
    if case.switch_id is not None:  # the progress record every interface shows says the switch is done
        with Session(life.engine) as db:
            tenant = db.get(Tenant, life.tenant_id)
            assert tenant is not None
            db.expunge(tenant)
        status = switch_status(life.settings, tenant, engine=life.engine).describe()
        assert status is not None and status["switch_id"] == str(case.switch_id), status
        assert (status["status"], status["done"], status["total"], status["last_error"]) == ("done", 1, 1, None), status
    per_guest: dict[str, int] = {}
    for m in life.emu.outbox()[mark:]:
        per_guest[m["to"]] = per_guest.get(m["to"], 0) + 1
    assert max(per_guest.values(), default=0) <= 1, per_guest


# ---------------------------------------------------------------------------------------------- tests
_RAN: dict[str, int] = {}


@pytest.fixture(scope="module", autouse=True)
def _say_how_many_ran(request: pytest.FixtureRequest) -> Iterator[None]:
    """Print, once the module is done, how many scenarios ran to convergence on each database."""
    yield
    total = sum(_RAN.values())
    per_db = ", ".join(f"{db}: {n}" for db, n in sorted(_RAN.items()))
    line = f"write-path matrix: {total} scenarios converged ({per_db}) over {len(PATHS)} write paths"
    capture = request.config.pluginmanager.getplugin("capturemanager")
    with capture.global_and_fixture_disabled():
        print(f"\n{line}")


@pytest.mark.parametrize("name", list(PATHS))
def test_the_table_matches_each_path(life: Life, name: str) -> None:
    path = PATHS[name]
    case = path.prepare(life)
    mark = len(life.emu.outbox())
    recorder = _Recorder()
    rules = _run(life, path, case, recorder, _count_rules())
    counted = {api: rule["seen"] for api, rule in zip(APIS, rules, strict=True)}
    assert (counted, tuple(recorder.seen)) == (path.calls, path.steps), f"{name}: {counted}, {recorder.seen}"
    _converge(life, path, case)
    _check(life, case, mark)


@pytest.mark.parametrize(("name", "fault"), SCENARIOS)
def test_write_path_converges_after_a_fault_at_each_step(life: Life, name: str, fault: str) -> None:
    path = PATHS[name]
    case = path.prepare(life)
    mark = len(life.emu.outbox())
    kind, *where = fault.split(":")
    if kind == "lost":
        api, k = where[0], int(where[1])
        rules = [{"method": "*", "path": APIS[api], "lost_rate": 1.0, "skip": k, "times": 1}]
        [rule] = _run(life, path, case, _Recorder(), rules)
        assert rule["injected"] == 1
    else:
        recorder = _Recorder(die_at=int(where[0]))
        _run(life, path, case, recorder, [])
        assert len(recorder.seen) == int(where[0]) + 1
    _converge(life, path, case)
    _check(life, case, mark)
    db = life.engine.dialect.name
    _RAN[db] = _RAN.get(db, 0) + 1
