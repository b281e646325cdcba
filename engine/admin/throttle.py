"""Sign-in throttling: per account and per client address, a growing delay, then a temporary lock.

Where it sits: the admin UI's sign-in view (:mod:`admin_ui.views.auth`) asks :func:`check` before the
password is even verified, and reports the outcome with :func:`record_failure` / :func:`record_success`.
Counters live in the database (:class:`~engine.store.models.SignInThrottle`), so every web process shares
them. Keys are ``account:<tenant slug>:<email>`` (counted whether or not the account exists, so the answers
do not reveal which accounts exist) and ``address:<client address>``.

The rule for each key comes from the settings (:class:`engine.settings.SignInLimits`, the
``MUSTER_SIGN_IN_*`` variables; :func:`rules_of` turns them into one :class:`Rule` per scope, and
:data:`ACCOUNT` / :data:`ADDRESS` are the defaults):

* the first ``free`` failures cost nothing;
* after that, each attempt must wait ``2, 4, 8, ...`` seconds (at most ``max_delay``) after the previous
  failure; an attempt that comes too early is refused without looking at the password, and counts;
* at ``lock_after`` failures the key is locked for ``lock_for``: every attempt, the right password
  included, is refused with the time the lock ends, and an ``auth.locked`` audit entry is written once;
* ``window`` after the last failure (or when a lock ends) the count starts again; a successful sign-in
  clears the account's count (not the address's, so one good account cannot launder guesses at others).

Data functions take the caller's ``db`` and never commit (house style §10).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from engine.settings import SignInLimits
from engine.store.models import SignInThrottle


@dataclass(frozen=True)
class Rule:
    scope: str  #: ``account`` | ``address``
    free: int
    lock_after: int
    lock_for: timedelta
    max_delay: timedelta
    window: timedelta

    def delay_after(self, failures: int) -> timedelta:
        """How long an attempt must wait after the ``failures``-th failure."""
        if failures < self.free:
            return timedelta(0)
        return min(timedelta(seconds=2 ** min(failures - self.free + 1, 20)), self.max_delay)


def rules_of(limits: SignInLimits) -> tuple[Rule, Rule]:
    """The account and address rules the settings describe."""
    lock_for, window = timedelta(minutes=limits.lock_minutes), timedelta(minutes=limits.window_minutes)
    return (
        Rule(
            "account",
            free=limits.account_free_failures,
            lock_after=limits.account_lock_after,
            lock_for=lock_for,
            max_delay=timedelta(seconds=limits.account_max_delay_s),
            window=window,
        ),
        Rule(
            "address",
            free=limits.address_free_failures,
            lock_after=limits.address_lock_after,
            lock_for=lock_for,
            max_delay=timedelta(seconds=limits.address_max_delay_s),
            window=window,
        ),
    )


#: The default rules (``MUSTER_SIGN_IN_*`` unset). Many people may share one address (an office behind
#: NAT): more room before the address slows down.
ACCOUNT, ADDRESS = rules_of(SignInLimits())


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    message: str = ""
    retry_after_s: int = 0
    locked_scope: str | None = None  #: set when a lock (not just a delay) refuses the attempt


@dataclass(frozen=True)
class Locked:
    """A key that this failure locked (the caller writes the audit entry)."""

    scope: str
    key: str
    failures: int
    until: datetime


def keys_for(*, tenant_slug: str, email: str, address: str, limits: SignInLimits) -> list[tuple[Rule, str]]:
    account, by_address = rules_of(limits)
    return [
        (account, f"account:{tenant_slug.strip().lower()}:{email.strip().lower()}"),
        (by_address, f"address:{address or 'unknown'}"),
    ]


def _row(db: Session, key: str) -> SignInThrottle | None:
    return db.exec(select(SignInThrottle).where(SignInThrottle.key == key)).first()


def _fresh(row: SignInThrottle, rule: Rule, now: datetime) -> bool:
    """True when the row's count has lapsed (lock over, or quiet for ``window``) and starts again."""
    if row.locked_until is not None:
        return now >= row.locked_until
    return now - row.last_failure_at > rule.window


def _when(at: datetime) -> str:
    return at.strftime("%H:%M UTC")


def check(*, db: Session, keys: list[tuple[Rule, str]], now: datetime) -> Verdict:
    """May this attempt be evaluated now? Locks first (the longest wait), then delays."""
    worst: Verdict = Verdict(allowed=True)
    for rule, key in keys:
        row = _row(db, key)
        if row is None or _fresh(row, rule, now):
            continue
        if row.locked_until is not None:
            wait = int((row.locked_until - now).total_seconds()) + 1
            what = "this account" if rule.scope == "account" else "your network address"
            return Verdict(
                allowed=False,
                message=f"Too many failed sign-ins: {what} is locked until {_when(row.locked_until)} "
                f"(about {max(1, round(wait / 60))} min). Try again then, or ask an admin to reset your password.",
                retry_after_s=wait,
                locked_scope=rule.scope,
            )
        ready_at = row.last_failure_at + rule.delay_after(row.failures)
        if now < ready_at:
            wait = int((ready_at - now).total_seconds()) + 1
            if wait > worst.retry_after_s:
                worst = Verdict(
                    allowed=False,
                    message=f"Too many failed sign-ins: wait {wait} seconds before trying again.",
                    retry_after_s=wait,
                )
    return worst


def record_failure(*, db: Session, keys: list[tuple[Rule, str]], now: datetime) -> list[Locked]:
    """Count a failed (or refused) attempt on every key; returns the keys this attempt locked."""
    locked: list[Locked] = []
    for rule, key in keys:
        row = _row(db, key)
        if row is None:
            row = SignInThrottle(key=key, failures=0, last_failure_at=now)
            try:
                with db.begin_nested():  # a concurrent first failure inserts the same key: count on its row
                    db.add(row)
            except IntegrityError:
                row = _row(db, key)
                assert row is not None
        elif _fresh(row, rule, now):
            row.failures, row.locked_until = 0, None
        row.failures += 1
        row.last_failure_at = now
        if row.locked_until is None and row.failures >= rule.lock_after:
            row.locked_until = now + rule.lock_for
            locked.append(Locked(rule.scope, key, row.failures, row.locked_until))
        db.add(row)
    return locked


def record_success(*, db: Session, keys: list[tuple[Rule, str]]) -> None:
    """A right password on an allowed attempt: the account starts again (the address keeps its count)."""
    for rule, key in keys:
        if rule.scope == "account":
            row = _row(db, key)
            if row is not None:
                db.delete(row)
