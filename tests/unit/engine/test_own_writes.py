"""The write mark's protocol on both stacks (:mod:`engine.sync.own_writes`): what the feed holds while Muster
writes is dropped when it is Muster's own write and noted otherwise, in whichever order the feed and the
recording reach the row; a stale mark holds nothing.

Where it sits: unit tests on the database alone (``db_engine``); the end-to-end window, driven by a step
hook against the emulator, is tests/integration/sync/test_own_writes.py.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy.engine import Engine
from sqlmodel import Session

from engine.store.models import CalendarBinding, LiveSession, Tenant
from engine.store.types import utcnow
from engine.store.unit_of_work import unit_of_work
from engine.sync import own_writes


def _binding(engine: Engine) -> tuple[uuid.UUID, uuid.UUID]:
    now = utcnow()
    with Session(engine) as db, db.begin():
        tenant = Tenant(slug=f"t{uuid.uuid4().hex[:8]}", name="T")
        db.add(tenant)
        db.flush()
        session = LiveSession(tenant_id=tenant.id, external_id="s", title="S", start_at=now, end_at=now,
                              time_zone="UTC")
        db.add(session)
        db.flush()
        binding = CalendarBinding(tenant_id=tenant.id, session_id=session.id, calendar_id="c@x", event_id="ev",
                                  etag='"e1"', sync_status="synced")
        db.add(binding)
        db.flush()
        return session.id, binding.id


def _hold(engine: Engine, binding_id: uuid.UUID, etag: str) -> bool:
    with unit_of_work(engine) as uow:
        b = uow.db.get(CalendarBinding, binding_id)
        assert b is not None
        assert own_writes.writing(b, utcnow())
        return own_writes.hold(uow.db, b, etag, utcnow())


def _record(engine: Engine, binding_id: uuid.UUID, own_etag: str) -> None:
    with unit_of_work(engine, dispatcher=lambda ids: None) as uow:
        b = uow.db.get(CalendarBinding, binding_id)
        assert b is not None
        b.etag = own_etag
        own_writes.end_write(uow.db, b, [own_etag])


def _row(engine: Engine, binding_id: uuid.UUID) -> CalendarBinding:
    with Session(engine) as db:
        b = db.get(CalendarBinding, binding_id)
        assert b is not None
        return b


def test_held_own_write_is_dropped_and_another_change_is_noted(db_engine: Engine) -> None:
    for listed, noted in (('"e2"', False), ('"e3"', True)):
        sid, bid = _binding(db_engine)
        own_writes.begin_write(db_engine, sid)
        assert _hold(db_engine, bid, listed)  # the feed lists before the recording: held
        _record(db_engine, bid, '"e2"')  # Muster's write produced "e2"
        b = _row(db_engine, bid)
        assert (b.writing_since, b.remote_held_etag) == (None, None)
        assert (b.remote_changed_at is not None) is noted
        assert b.remote_etag == (listed if noted else None)


def test_a_feed_arriving_after_the_recording_compares_with_the_recorded_etag(db_engine: Engine) -> None:
    sid, bid = _binding(db_engine)
    own_writes.begin_write(db_engine, sid)
    with unit_of_work(db_engine) as uow:  # the feed read the row while the mark was there ...
        seen = uow.db.get(CalendarBinding, bid)
        assert seen is not None and own_writes.writing(seen, utcnow())
        _record(db_engine, bid, '"e2"')  # ... the recording committed meanwhile ...
        assert not own_writes.hold(uow.db, seen, '"e2"', utcnow())  # ... so nothing is held
        assert '"e2"' in own_writes.recorded_etags(uow.db, bid)  # and the etag now stored is Muster's
    assert _row(db_engine, bid).remote_held_etag is None


def test_a_stale_mark_holds_nothing(db_engine: Engine) -> None:
    sid, bid = _binding(db_engine)
    own_writes.begin_write(db_engine, sid, now=utcnow() - own_writes.STALE_AFTER - timedelta(seconds=1))
    b = _row(db_engine, bid)
    assert b.writing_since is not None and not own_writes.writing(b, utcnow())
