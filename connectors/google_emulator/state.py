"""In-memory world of the Google Workspace emulator: every object the emulated APIs read and write.

Where it sits: the bottom layer of ``connectors.google_emulator``. HTTP modules (``auth``, ``calendars``,
``events``, ``directory``, ``freebusy``, ``rooms``, ``batch``, ``control`` ...) translate requests into
calls on a :class:`World`; nothing here knows about HTTP.

Stable API used by the other emulator modules (keep it stable):

* ``world.lock`` - one ``threading.RLock``; hold it for any read-modify-write of world state.
* ``world.clock.now()`` - UTC-aware ``datetime``; inject :class:`ManualClock` in tests.
* ``world.options`` - :class:`EmulatorOptions` (delays, failure rates, TTLs).
* ``world.rng`` - ``random.Random`` seeded from ``options.seed`` (deterministic faults / Meet failures).
* Directory: ``domains``, ``users`` (by lower-cased primary email), ``user_by_id()``, ``add_user()``,
  ``find_user()``, ``resources`` (room Directory JSON by resourceEmail, :class:`Resource`),
  ``add_resource()``, ``buildings`` / ``features`` (Directory JSON dicts keyed by id / name).
* Auth: ``service_accounts``, ``delegation_grants``, ``oauth_clients``, ``refresh_tokens``,
  ``access_tokens``, ``identity_for_token()``, ``revoke_tokens_for()``.
* Calendar: ``calendars``, ``events`` (calendar id → event id → :class:`StoredEvent`),
  ``calendar_for()``, ``ensure_primary_calendar()``, ``next_change()``, ``record_event_write()``,
  ``visible_events()`` (own events + read-only attendee copies), ``set_attendee_response()``.
* Hooks: ``after_event_write`` - callables ``(world, calendar_id, event_json)`` run (outside the lock)
  after every event create/update/delete; ``calendar/rooms.py`` registers its delayed room response there.
  ``before_request`` - callables ``(world)`` run before every Calendar request (due Meet requests).
  ``after_change`` - callables ``(world, calendar_id)`` run after anything changes a calendar's event
  collection (push notifications use it).
* ``outbox`` - :class:`OutboxMessage` list, every e-mail Google would have sent.
* ``channels`` - push channels by id.
* ``extra`` - free-form dict for other modules' state (fault settings, quota windows ...); cleared by
  :meth:`World.reset`.

Timestamps in the world are UTC-aware datetimes; Google-shaped JSON carries RFC 3339 strings.
"""

from __future__ import annotations

import itertools
import random
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, Protocol

GOOGLE_TOKEN_AUD = "https://oauth2.googleapis.com/token"
MEET = "hangoutsMeet"


class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    """Wall clock, UTC."""

    def now(self) -> datetime:
        return datetime.now(UTC)


class ManualClock:
    """A clock tests move by hand."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or datetime(2027, 1, 4, 9, 0, tzinfo=UTC)

    def now(self) -> datetime:
        return self._now

    def advance(self, seconds: float) -> None:
        self._now += timedelta(seconds=seconds)

    def set(self, when: datetime) -> None:
        self._now = when


@dataclass
class EmulatorOptions:
    """Knobs of the emulated Google; all delays are in seconds and short in tests."""

    seed: int = 1234
    token_ttl_s: int = 3599
    conference_delay_s: float = 0.0  # pending → success this long after the create request
    conference_failure_rate: float = 0.0  # share of Meet create requests that end in ``failure``
    room_response_delay_s: float = 0.05  # used by rooms.py
    channel_default_ttl_s: int = 7 * 24 * 3600
    channel_max_ttl_s: int = 7 * 24 * 3600
    push_enabled: bool = True
    push_timeout_s: float = 2.0
    push_retry_base_s: float = 1.0  # receiver answered 500/502/503/504: retry after base, 2*base, 4*base ...
    push_max_retries: int = 5
    sync_token_ttl_s: float = 0.0  # > 0: sync tokens older than this answer 410 fullSyncRequired
    empty_pages: bool = False  # events.list answers an empty page (with nextPageToken) before each page
    allow_http_push_hosts: tuple[str, ...] = ("127.0.0.1", "localhost")
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class Domain:
    name: str
    customer_id: str


@dataclass
class User:
    id: str
    primaryEmail: str
    name: dict[str, str] = field(default_factory=dict)
    isAdmin: bool = False
    suspended: bool = False
    suspensionReason: str | None = None
    deleted: bool = False
    orgUnitPath: str = "/"
    timeZone: str = "UTC"
    extra: dict[str, Any] = field(default_factory=dict)  # any other Directory / seed fields

    @property
    def email(self) -> str:
        return self.primaryEmail.lower()

    @property
    def domain(self) -> str:
        return self.email.split("@", 1)[1]


@dataclass
class Calendar:
    id: str
    summary: str
    timeZone: str
    owner: str  # e-mail of the owning user / service account / resource
    is_primary: bool = False
    is_resource: bool = False
    conference_types: list[str] = field(default_factory=lambda: [MEET])
    description: str | None = None
    location: str | None = None
    acl: dict[str, str] = field(default_factory=dict)  # e-mail → role (reader, writer, owner, freeBusyReader)
    deleted: bool = False
    etag: str = ""


@dataclass
class StoredEvent:
    """One event as stored on its organizer's calendar. ``data`` is exactly Google's JSON."""

    calendar_id: str
    data: dict[str, Any]
    change_seq: int = 0
    deleted: bool = False  # tombstone: data["status"] == "cancelled" after delete
    conference_due: datetime | None = None  # pending Meet create request resolves at this time
    conference_outcome: Literal["success", "failure"] | None = None
    request_ids: set[str] = field(default_factory=set)
    moved_away: bool = False  # cancelled copy left behind by events.move

    @property
    def id(self) -> str:
        return str(self.data["id"])


@dataclass
class CopyRef:
    """An attendee's (user's or room's) read-only view of an event stored on another calendar."""

    source_calendar: str
    event_id: str
    change_seq: int
    removed: bool = False


@dataclass
class ServiceAccount:
    client_email: str
    client_id: str
    public_key_pem: str
    private_key_id: str
    project_id: str = "emulated-project"


@dataclass
class DelegationGrant:
    client_id: str
    domain: str
    scopes: list[str]


@dataclass
class OAuthClient:
    client_id: str
    client_secret: str
    redirect_uris: list[str] = field(default_factory=list)


@dataclass
class RefreshToken:
    token: str
    user: str
    client_id: str
    scopes: list[str]
    revoked: bool = False
    expires_at: datetime | None = None


@dataclass
class AuthCode:
    code: str
    user: str
    client_id: str
    redirect_uri: str
    scopes: list[str]
    offline: bool
    expires_at: datetime
    used: bool = False
    #: OpenID Connect: echoed in the ID token; PKCE: the challenge the token request's verifier must meet.
    nonce: str | None = None
    code_challenge: str | None = None
    code_challenge_method: str = "plain"


@dataclass
class AccessToken:
    token: str
    email: str  # acting identity: the user, the impersonated user (sub) or the service account
    sub: str  # Google's numeric subject: user id or SA client id
    scopes: list[str]
    kind: Literal["sa", "sa_dwd", "user"]
    expiry: datetime
    client_id: str  # OAuth client id or SA client id
    sa_email: str | None = None
    revoked: bool = False


@dataclass
class Resource:
    """A Directory calendar resource (room). ``data`` is Directory's CalendarResource JSON."""

    email: str
    data: dict[str, Any]
    bookable_by: list[str] = field(default_factory=list)  # empty = anyone in the domain


@dataclass
class OutboxMessage:
    kind: Literal["invitation", "update", "cancellation"]
    to: str
    event_id: str
    calendar_id: str
    sender: str
    timestamp: datetime
    summary: str


@dataclass
class Channel:
    id: str
    resource_id: str
    resource_uri: str
    calendar_id: str
    address: str
    token: str | None
    expiration_ms: int
    owner: str
    client_id: str
    message_number: int = 0
    stopped: bool = False
    delivered: list[tuple[str, int, int]] = field(default_factory=list)  # (state, number, http status)


EventHook = Callable[["World", str, dict[str, Any]], None]
ChangeHook = Callable[["World", str], None]


def new_etag(when: datetime) -> str:
    """Event etag: a quoted microsecond timestamp, like Google's ``"3181159875584000"``."""
    return f'"{int(when.timestamp() * 1_000_000)}"'


def rfc3339(when: datetime) -> str:
    """UTC timestamp with millisecond precision, as Google writes ``updated``."""
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


_B32HEX = "0123456789abcdefghijklmnopqrstuv"


def new_event_id(rng: random.Random) -> str:
    return "".join(rng.choice(_B32HEX) for _ in range(26))


def new_numeric_id(rng: random.Random, digits: int = 21) -> str:
    return str(rng.randint(1, 9)) + "".join(str(rng.randint(0, 9)) for _ in range(digits - 1))


class World:
    """All emulated state. Thread-safe through ``lock`` (an RLock)."""

    def __init__(self, *, clock: Clock | None = None, options: EmulatorOptions | None = None) -> None:
        self.lock = threading.RLock()
        self.clock: Clock = clock or SystemClock()
        self.options = options or EmulatorOptions()
        self.after_event_write: list[EventHook] = []
        self.after_change: list[ChangeHook] = []
        self.before_request: list[Callable[[World], None]] = []
        self._init_state()

    # ------------------------------------------------------------------ lifecycle
    def _init_state(self) -> None:
        self.rng = random.Random(self.options.seed)
        self.epoch = secrets.token_hex(4)  # sync tokens of an earlier epoch are invalid (→ 410)
        self._counter = itertools.count(1)
        self.change_counter = 0
        self.domains: dict[str, Domain] = {}
        self.users: dict[str, User] = {}
        self.resources: dict[str, Resource] = {}
        self.buildings: dict[str, dict[str, Any]] = {}
        self.features: dict[str, dict[str, Any]] = {}
        self.service_accounts: dict[str, ServiceAccount] = {}
        self.delegation_grants: list[DelegationGrant] = []
        self.oauth_clients: dict[str, OAuthClient] = {}
        self.refresh_tokens: dict[str, RefreshToken] = {}
        self.auth_codes: dict[str, AuthCode] = {}
        self.access_tokens: dict[str, AccessToken] = {}
        self.calendars: dict[str, Calendar] = {}
        self.events: dict[str, dict[str, StoredEvent]] = {}
        self.copies: dict[str, dict[str, CopyRef]] = {}
        self.used_event_ids: dict[str, set[str]] = {}
        self.outbox: list[OutboxMessage] = []
        self.channels: dict[str, Channel] = {}
        self.extra: dict[str, Any] = {}

    def reset(self) -> None:
        """Forget everything except hooks, clock and options (sync tokens issued before become invalid)."""
        with self.lock:
            self._init_state()

    def now(self) -> datetime:
        return self.clock.now()

    def next_change(self) -> int:
        """Advance the monotonic change counter (drives sync tokens) and return the new value."""
        with self.lock:
            self.change_counter = next(self._counter)
            return self.change_counter

    # ------------------------------------------------------------------ directory
    def add_domain(self, name: str, customer_id: str | None = None) -> Domain:
        with self.lock:
            dom = self.domains.get(name.lower())
            if dom is None:
                dom = Domain(name.lower(), customer_id or ("C0" + new_numeric_id(self.rng, 7)))
                self.domains[dom.name] = dom
            return dom

    def add_user(self, primary_email: str, **fields: Any) -> User:
        """Create (or replace) a user of a known or new domain and give them a primary calendar."""
        with self.lock:
            email = primary_email.lower()
            self.add_domain(email.split("@", 1)[1])
            known = {f for f in User.__dataclass_fields__ if f not in ("id", "primaryEmail", "extra")}
            kwargs = {k: v for k, v in fields.items() if k in known}
            extra = {k: v for k, v in fields.items() if k not in known and k != "id"}
            user = User(
                id=str(fields.get("id") or new_numeric_id(self.rng)),
                primaryEmail=email,
                extra=extra,
                **kwargs,
            )
            self.users[email] = user
            self.ensure_primary_calendar(email, time_zone=user.timeZone)
            return user

    def find_user(self, email: str) -> User | None:
        return self.users.get(email.lower())

    def user_by_id(self, user_id: str) -> User | None:
        with self.lock:
            for u in self.users.values():
                if u.id == user_id:
                    return u
            return None

    def is_domain_email(self, email: str) -> bool:
        return email.lower().rsplit("@", 1)[-1] in self.domains

    def add_resource(self, data: dict[str, Any], bookable_by: list[str] | None = None) -> Resource:
        """Register a room (Directory CalendarResource JSON) and its resource calendar."""
        with self.lock:
            email = str(data["resourceEmail"]).lower()
            res = Resource(email=email, data=dict(data), bookable_by=[b.lower() for b in bookable_by or []])
            self.resources[email] = res
            cal = self.calendars.get(email)
            if cal is None:
                cal = Calendar(
                    id=email,
                    summary=str(data.get("generatedResourceName") or data.get("resourceName") or email),
                    timeZone=str(data.get("timeZone") or "UTC"),
                    owner=email,
                    is_primary=True,
                    is_resource=True,
                    etag=new_etag(self.now()),
                )
                self.calendars[email] = cal
                self.events.setdefault(email, {})
            return res

    # ------------------------------------------------------------------ auth
    def identity_for_token(self, token: str) -> AccessToken | None:
        """The live access token for a bearer string, or None when unknown, expired or revoked."""
        with self.lock:
            tok = self.access_tokens.get(token)
            if tok is None or tok.revoked or tok.expiry <= self.now():
                return None
            return tok

    def revoke_tokens_for(self, email: str) -> int:
        """Revoke every refresh and access token of a user (as an admin's 'sign out / reset' does)."""
        email = email.lower()
        n = 0
        with self.lock:
            for rt in self.refresh_tokens.values():
                if rt.user == email and not rt.revoked:
                    rt.revoked = True
                    n += 1
            for at in self.access_tokens.values():
                if at.email == email and not at.revoked:
                    at.revoked = True
                    n += 1
        return n

    def add_service_account(
        self,
        client_email: str,
        public_key_pem: str,
        *,
        private_key_id: str,
        client_id: str | None = None,
        project_id: str = "emulated-project",
    ) -> ServiceAccount:
        """Register a service account's public key (what Google holds for a key file's private key)."""
        with self.lock:
            sa = ServiceAccount(
                client_email.lower(),
                client_id or new_numeric_id(self.rng),
                public_key_pem,
                private_key_id,
                project_id,
            )
            self.service_accounts[sa.client_email] = sa
            return sa

    def add_delegation_grant(self, client_id: str, domain: str, scopes: list[str]) -> DelegationGrant:
        """Admin console 'domain-wide delegation': ``client_id`` may impersonate users of ``domain``."""
        with self.lock:
            self.delegation_grants = [
                g
                for g in self.delegation_grants
                if not (g.client_id == client_id and g.domain == domain.lower())
            ]
            grant = DelegationGrant(client_id, domain.lower(), list(scopes))
            self.delegation_grants.append(grant)
            return grant

    def add_oauth_client(
        self, client_id: str, client_secret: str, redirect_uris: list[str] | None = None
    ) -> OAuthClient:
        with self.lock:
            client = OAuthClient(client_id, client_secret, list(redirect_uris or []))
            self.oauth_clients[client_id] = client
            return client

    def issue_refresh_token(
        self, user: str, client_id: str, scopes: list[str], expires_at: datetime | None = None
    ) -> RefreshToken:
        """A refresh token as the consent flow would have produced (control API / tests)."""
        with self.lock:
            rt = RefreshToken(
                "1//emu-" + secrets.token_urlsafe(24),
                user.lower(),
                client_id,
                list(scopes),
                expires_at=expires_at,
            )
            self.refresh_tokens[rt.token] = rt
            return rt

    def issue_access_token(
        self,
        *,
        email: str,
        sub: str,
        scopes: list[str],
        kind: Literal["sa", "sa_dwd", "user"],
        client_id: str,
        sa_email: str | None = None,
    ) -> AccessToken:
        with self.lock:
            tok = AccessToken(
                "ya29.emu-" + secrets.token_urlsafe(32),
                email.lower(),
                sub,
                list(scopes),
                kind,
                self.now() + timedelta(seconds=self.options.token_ttl_s),
                client_id,
                sa_email,
            )
            self.access_tokens[tok.token] = tok
            return tok

    def grant_for(self, client_id: str, domain: str) -> DelegationGrant | None:
        with self.lock:
            for g in self.delegation_grants:
                if g.client_id == client_id and g.domain == domain.lower():
                    return g
            return None

    # ------------------------------------------------------------------ calendars
    def ensure_primary_calendar(
        self, email: str, *, time_zone: str = "UTC", conference_types: list[str] | None = None
    ) -> Calendar:
        with self.lock:
            email = email.lower()
            cal = self.calendars.get(email)
            if cal is None:
                cal = Calendar(
                    id=email,
                    summary=email,
                    timeZone=time_zone,
                    owner=email,
                    is_primary=True,
                    conference_types=list(conference_types if conference_types is not None else [MEET]),
                    etag=new_etag(self.now()),
                )
                self.calendars[email] = cal
                self.events.setdefault(email, {})
            return cal

    def calendar_for(self, calendar_id: str) -> Calendar | None:
        with self.lock:
            cal = self.calendars.get(calendar_id) or self.calendars.get(calendar_id.lower())
            if cal is None or cal.deleted:
                return None
            return cal

    def access_role(self, calendar: Calendar, email: str) -> str:
        """owner | writer | reader | freeBusyReader | none for ``email`` on ``calendar``."""
        email = email.lower()
        if calendar.owner == email:
            return "owner"
        role = calendar.acl.get(email)
        if role:
            return role
        if calendar.is_resource:
            dom = email.rsplit("@", 1)[-1]
            res = self.resources.get(calendar.id)
            res_domain = str(res.data.get("domain", "")) if res else ""
            if dom in self.domains and (not res_domain or res_domain == dom):
                return "reader"
        owner_dom = calendar.owner.rsplit("@", 1)[-1]
        if calendar.is_primary and owner_dom in self.domains and email.rsplit("@", 1)[-1] == owner_dom:
            return "freeBusyReader"
        return "none"

    # ------------------------------------------------------------------ events
    def record_event_write(self, stored: StoredEvent, *, keep_updated: bool = False) -> None:
        """Stamp a fresh change number, updated time and etag, refresh attendee copies. Call under lock.

        ``keep_updated`` leaves ``updated`` alone (a change of reminders only: "Updating event reminders
        will not cause this to change", Event.updated in the discovery document)."""
        now = self.now()
        stored.change_seq = self.next_change()
        if not keep_updated or "updated" not in stored.data:
            stored.data["updated"] = rfc3339(now)
        stored.data["etag"] = new_etag(now + timedelta(microseconds=stored.change_seq % 1000))
        self._refresh_copies(stored)

    def _refresh_copies(self, stored: StoredEvent) -> None:
        """Keep attendees' read-only views in step with the organizer's event.

        A calendar that should see the event gets a live ref; one that must see it as cancelled (a guest
        removed from it, or every guest of a cancelled instance of a series) gets a removed ref, which
        reads as a cancelled tombstone and so hides that instance from the guest's expansion."""
        cal_id = stored.calendar_id
        data = stored.data
        alive = not stored.deleted and data.get("status") != "cancelled"

        def guests(event: dict[str, Any] | None) -> set[str]:
            out: set[str] = set()
            for att in (event or {}).get("attendees") or []:
                email = str(att.get("email", "")).lower()
                target = self.calendars.get(email)
                if email != cal_id and target is not None and not target.deleted:
                    out.add(email)
            return out

        own = guests(data)
        show: set[str] = set()
        hide: set[str] = set()
        if data.get("recurringEventId"):
            master = self.events.get(cal_id, {}).get(str(data["recurringEventId"]))
            of_series = guests(master.data) if master is not None else set()
            if alive:
                show, hide = own, of_series - own
            else:
                hide = own | of_series
        elif alive:
            show = own
        for other_cal, refs in self.copies.items():
            ref = refs.get(stored.id)
            if (
                ref is not None
                and ref.source_calendar == cal_id
                and other_cal not in show
                and not ref.removed
            ):
                ref.removed = True
                ref.change_seq = stored.change_seq
        for email in show | hide:
            refs = self.copies.setdefault(email, {})
            if stored.id in self.events.get(email, {}):
                continue  # the attendee has an own event with that id; keep theirs
            if email in hide:
                if stored.id not in refs:  # a live ref (ours or a moved twin's) is handled above / kept
                    refs[stored.id] = CopyRef(cal_id, stored.id, stored.change_seq, removed=True)
                continue
            refs[stored.id] = CopyRef(cal_id, stored.id, stored.change_seq)

    def copy_source(self, calendar_id: str, event_id: str) -> tuple[CopyRef, StoredEvent] | None:
        with self.lock:
            ref = self.copies.get(calendar_id, {}).get(event_id)
            if ref is None:
                return None
            src = self.events.get(ref.source_calendar, {}).get(ref.event_id)
            if src is None:
                return None
            return ref, src

    def visible_events(self, calendar_id: str) -> list[tuple[StoredEvent, CopyRef | None]]:
        """Own events of a calendar plus attendee copies of events stored elsewhere (with their ref)."""
        with self.lock:
            out: list[tuple[StoredEvent, CopyRef | None]] = [
                (s, None) for s in self.events.get(calendar_id, {}).values()
            ]
            for ref in self.copies.get(calendar_id, {}).values():
                src = self.events.get(ref.source_calendar, {}).get(ref.event_id)
                if src is not None:
                    out.append((src, ref))
            return out

    def set_attendee_response(
        self, calendar_id: str, event_id: str, email: str, status: str, comment: str | None = None
    ) -> dict[str, Any] | None:
        """Set one attendee's responseStatus on the organizer's event (rooms, tests). Returns the event."""
        email = email.lower()
        with self.lock:
            stored = self.events.get(calendar_id, {}).get(event_id)
            if stored is None:
                return None
            changed = False
            for att in stored.data.get("attendees") or []:
                if str(att.get("email", "")).lower() == email:
                    att["responseStatus"] = status
                    if comment is not None:
                        att["comment"] = comment
                    changed = True
            if not changed:
                return None
            self.record_event_write(stored)
            snapshot = dict(stored.data)
        self.fire_change(calendar_id, snapshot, run_event_hooks=False)
        return snapshot

    def fire_change(
        self, calendar_id: str, event: dict[str, Any] | None, *, run_event_hooks: bool = True
    ) -> None:
        """Run hooks after a write. Must be called WITHOUT holding the lock from a request thread."""
        affected = {calendar_id}
        with self.lock:
            if event is not None:
                for cal, refs in self.copies.items():
                    if str(event.get("id")) in refs:
                        affected.add(cal)
        if run_event_hooks and event is not None:
            for hook in list(self.after_event_write):
                hook(self, calendar_id, event)
        for cal in sorted(affected):
            for change_hook in list(self.after_change):
                change_hook(self, cal)

    def add_outbox(
        self,
        kind: Literal["invitation", "update", "cancellation"],
        to: str,
        event_id: str,
        calendar_id: str,
        sender: str,
        summary: str,
    ) -> None:
        with self.lock:
            self.outbox.append(
                OutboxMessage(kind, to.lower(), event_id, calendar_id, sender.lower(), self.now(), summary)
            )
