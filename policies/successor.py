"""Successor policy: who inherits a session's Google event when its acting owner leaves.

Where it sits: pure policy data (``policies`` layer; imports nothing from the project but
:mod:`policies.schema`). The organizer lifecycle (:mod:`engine.lifecycle`) builds :class:`SessionFacts` from
the database and calls :func:`choose_successor` for each affected session: for the transfer preview, the
transfer itself and the single-point-of-failure report, so all three always agree.

The rule, in order:

1. the next host of the session, in host order (``position``), whose role is eligible, who is not
   themselves leaving / suspended / deleted, and who has a working Google connection;
2. else the tenant's fallback owner (``Tenant.fallback_owner_email``), who must have a working
   connection and must not be leaving / suspended / deleted;
3. else nobody: the session stays exactly as it is, and :attr:`Decision.needed` says what an admin must
   do (connect a co-host, or connect / set the fallback owner).

Which host roles may inherit is tenant data (``Tenant.settings["successor"]``), declared once by
:class:`SuccessorSettings`: unknown keys or values raise ``ValueError`` naming the field.
Nothing here does I/O, reads a clock, or knows about Google.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from pydantic import Field, field_validator

from policies.schema import SettingsSection

#: Host roles as stored in ``SessionHost.role``.
HOST_ROLES = ("organizer", "co_host", "presenter")
#: People states (``Person.status``) that can never inherit anything.
GONE_STATES = frozenset({"leaving", "suspended", "deleted"})
#: Default: organizers and co-hosts inherit; presenters only when a tenant opts in.
DEFAULT_ELIGIBLE_ROLES: tuple[str, ...] = ("organizer", "co_host")


class Outcome(enum.StrEnum):
    NOT_AFFECTED = "not_affected"  #: the leaving person does not own this session's event
    CO_HOST = "co_host"  #: a host of the session inherits
    FALLBACK = "fallback"  #: the tenant's fallback owner inherits
    BLOCKED = "blocked"  #: nobody can inherit yet; the session stays as it is


@dataclass(frozen=True)
class HostFacts:
    """One host of a session as the policy needs to see them."""

    email: str
    position: int
    role: str = "co_host"
    status: str = "active"  #: a ``PersonStatus`` value
    connected: bool = False  #: has a Google connection that currently works


@dataclass(frozen=True)
class SessionFacts:
    """A session whose event may need a new owner."""

    session_id: str
    title: str
    hosts: tuple[HostFacts, ...]
    #: The Google identity acting for the event now (binding owner), or None if never synced.
    owner_email: str | None = None


@dataclass(frozen=True)
class FallbackFacts:
    """The tenant's fallback owner, if any."""

    email: str | None = None
    status: str = "active"
    connected: bool = False


@dataclass(frozen=True)
class SuccessorRules:
    """Tenant data for the rule: which host roles may inherit."""

    eligible_roles: tuple[str, ...] = DEFAULT_ELIGIBLE_ROLES

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any] | None) -> SuccessorRules:
        """From ``Tenant.settings["successor"]`` (:class:`SuccessorSettings`; absent = defaults)."""
        return cls(eligible_roles=tuple(SuccessorSettings.parse(settings).eligible_roles))


class SuccessorSettings(SettingsSection):
    """``Tenant.settings["successor"]``: which host roles may inherit a departing owner's events."""

    section: ClassVar[str] = "successor"
    not_object: ClassVar[str] = 'must be an object like {"eligibleRoles": ["co_host"]}'

    eligible_roles: list[str] = Field(
        default_factory=lambda: list(DEFAULT_ELIGIBLE_ROLES),
        alias="eligibleRoles",
        description=f"Host roles that may inherit, in any order: some of {', '.join(HOST_ROLES)}.",
    )

    @field_validator("eligible_roles", mode="before")
    @classmethod
    def _roles(cls, value: Any) -> Any:
        if not isinstance(value, list) or not value or not all(isinstance(r, str) for r in value):
            raise ValueError(f"must be a non-empty list of host roles ({', '.join(HOST_ROLES)})")
        bad = [r for r in value if r not in HOST_ROLES]
        if bad:
            raise ValueError(f"unknown role {bad[0]!r}; use one of {', '.join(HOST_ROLES)}")
        return list(dict.fromkeys(value))


@dataclass(frozen=True)
class Decision:
    """What happens to one session's event. ``needed`` is the alert text when ``outcome`` is BLOCKED."""

    session_id: str
    outcome: Outcome
    successor_email: str | None = None
    reason: str = ""
    needed: str | None = None


def _norm(email: str | None) -> str | None:
    return email.strip().lower() if email else None


def _can_inherit(host: HostFacts, rules: SuccessorRules, departing: frozenset[str]) -> bool:
    return (
        host.role in rules.eligible_roles
        and host.status not in GONE_STATES
        and _norm(host.email) not in departing
        and host.connected
    )


def affected(session: SessionFacts, departing_email: str) -> bool:
    """Whether ``departing_email`` acts for this session's event.

    The acting owner is the binding's owner; a session never synced falls back to its first host.
    """
    who = _norm(departing_email)
    if session.owner_email:
        return _norm(session.owner_email) == who
    ordered = sorted(session.hosts, key=lambda h: h.position)
    return bool(ordered) and _norm(ordered[0].email) == who


def choose_successor(session: SessionFacts, departing_email: str, fallback: FallbackFacts,
                     rules: SuccessorRules | None = None,
                     also_departing: Sequence[str] = ()) -> Decision:
    """Decide who inherits ``session``'s event from ``departing_email``. Pure and deterministic.

    ``also_departing`` lists other people leaving at the same time (a batch offboarding): they are
    skipped as successors even if their status is not yet updated.
    """
    rules = rules or SuccessorRules()
    if not affected(session, departing_email):
        return Decision(session.session_id, Outcome.NOT_AFFECTED,
                        reason=f"{departing_email} does not own this session's event")
    departing = frozenset(e for e in (_norm(x) for x in (departing_email, *also_departing)) if e)
    for host in sorted(session.hosts, key=lambda h: h.position):
        if _can_inherit(host, rules, departing):
            return Decision(session.session_id, Outcome.CO_HOST, successor_email=_norm(host.email),
                            reason=f"next {host.role.replace('_', '-')} in host order with a working "
                                   "Google connection")
    skipped = _skipped_hosts(session, rules, departing)
    fb = _norm(fallback.email)
    if fb and fb not in departing and fallback.status not in GONE_STATES and fallback.connected:
        return Decision(session.session_id, Outcome.FALLBACK, successor_email=fb,
                        reason="no co-host can inherit" + (f" ({skipped})" if skipped else "")
                               + "; the tenant's fallback owner inherits")
    return Decision(session.session_id, Outcome.BLOCKED, reason="nobody can inherit the event",
                    needed=_what_is_needed(session, fallback, fb, departing, skipped))


def _skipped_hosts(session: SessionFacts, rules: SuccessorRules, departing: frozenset[str]) -> str:
    notes = []
    for host in sorted(session.hosts, key=lambda h: h.position):
        email = _norm(host.email)
        if email in departing:
            continue
        if host.role not in rules.eligible_roles:
            notes.append(f"{email} is a {host.role.replace('_', '-')}, not eligible")
        elif host.status in GONE_STATES:
            notes.append(f"{email} is {host.status}")
        elif not host.connected:
            notes.append(f"{email} has no working Google connection")
    return "; ".join(notes)


def _what_is_needed(session: SessionFacts, fallback: FallbackFacts, fb: str | None,
                    departing: frozenset[str], skipped: str) -> str:
    parts = []
    unconnected = [h for h in session.hosts if _norm(h.email) not in departing
                   and h.status not in GONE_STATES and not h.connected]
    if unconnected:
        parts.append("connect Google for " + ", ".join(sorted({_norm(h.email) or "" for h in unconnected})))
    if not fb:
        parts.append("set the tenant's fallback owner (fallback_owner_email) to a connected account")
    elif fb in departing or fallback.status in GONE_STATES:
        parts.append(f"choose another fallback owner: {fb} is leaving or gone")
    else:
        parts.append(f"connect Google for the fallback owner {fb}")
    why = f" ({skipped})" if skipped else ""
    return f"'{session.title}': no successor{why}. To transfer it: " + ", or ".join(parts) + "."


@dataclass(frozen=True)
class TransferRules:
    """Tenant data for how transfers run (``Tenant.settings["lifecycle"]``)."""

    #: Data Transfer's ``RELEASE_RESOURCES``: True frees the rooms of transferred events (Muster then
    #: books them again as the new owner); False (default) keeps them booked on the moved events.
    release_resources: bool = False

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any] | None) -> TransferRules:
        """From ``Tenant.settings["lifecycle"]`` (:class:`LifecycleSettings`; absent = defaults)."""
        return cls(release_resources=LifecycleSettings.parse(settings).release_resources)


class LifecycleSettings(SettingsSection):
    """``Tenant.settings["lifecycle"]``: how transfers of a departing owner's events run."""

    section: ClassVar[str] = "lifecycle"
    not_object: ClassVar[str] = 'must be an object like {"releaseResources": false}'

    release_resources: bool = Field(
        default=False,
        alias="releaseResources",
        description="Data Transfer frees the rooms of transferred events (Muster books them again as the new "
        "owner); false keeps them booked on the moved events.",
    )
