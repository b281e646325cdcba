"""Request and response shapes of the ingest REST API, with every validation rule in one place.

Where it sits: FastAPI validates request bodies against the ``*Create`` models here before a route runs,
so :mod:`engine.ingest` only ever sees well-formed input; routes answer with the ``*Public`` models.
JSON field names are camelCase (``timeZone``, ``coHosts``, ``manualJoinLink``), as a learning platform
sends them (see ``acme-catalog.json``); snake_case names are accepted too.

Rules (each failure is a 422 naming the field, see :mod:`engine.api.errors`):

* ``end`` after ``start``, both with a UTC offset, at most :data:`MAX_DURATION` apart; stored as UTC.
* ``timeZone`` a known IANA zone; ``recurrence`` lines pass :mod:`engine.domain.recurrence`.
* emails look like ``local@domain.tld`` and are lower-cased; no one is both host and learner.
* ``video`` is ``meet``, ``manual`` or ``none``; ``manual`` needs an ``https://`` ``manualJoinLink``.
* hosts + enrolled learners (+1 when a room is wanted) stay within :data:`MAX_ATTENDEES`.
"""

from __future__ import annotations

import re
import uuid
import zoneinfo
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Annotated, Any, ClassVar, Literal
from urllib.parse import urlparse

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    JsonValue,
    ValidationInfo,
    field_validator,
)
from pydantic.alias_generators import to_camel

from engine.domain.recurrence import RecurrenceSyntaxError, check_recurrence_line
from engine.store.models import EnrollmentStatus, HostRole, SessionStatus, VideoChoice

#: Most attendees (hosts + enrolled learners + a wanted room) one session may have. Google stops
#: propagating guests' responses past 200 guests and refuses much larger lists, and a platform session
#: that big is better served by a broadcast; waitlisted learners do not count (they are never invited).
MAX_ATTENDEES = 200
#: Longest a single occurrence may last.
MAX_DURATION = timedelta(days=14)
#: Most co-hosts/presenters on one session.
MAX_HOSTS = 50
MAX_EMAIL_LENGTH = 320
#: An email address as Muster accepts it (also the OpenAPI ``pattern`` of every email field).
EMAIL_PATTERN = (
    r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}"
    r"[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$"
)
_EMAIL = re.compile(EMAIL_PATTERN)
_EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
_LATEST = datetime(2100, 1, 1, tzinfo=UTC)


def normalize_email(value: str) -> str:
    """Lower-case, trimmed ``value`` if it is a plausible email address, else ``ValueError``."""
    email = value.strip().lower()
    if len(email) > MAX_EMAIL_LENGTH:
        raise ValueError(f"email is {len(email)} characters long; the limit is {MAX_EMAIL_LENGTH}")
    if not _EMAIL.match(email) or ".." in email.split("@", 1)[0]:
        raise ValueError(f"{value!r} is not a valid email address (expected name@domain.example)")
    return email


Email = Annotated[
    str,
    AfterValidator(normalize_email),
    Field(json_schema_extra={"format": "email", "pattern": EMAIL_PATTERN, "maxLength": MAX_EMAIL_LENGTH,
                             "examples": ["ada@acme.example"]}),
]


@lru_cache(maxsize=1)
def _known_zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


#: Names the zone database ships that are not places: the host's own zone and tzdata's placeholder.
_NOT_ZONES = frozenset({"localtime", "Factory", "posixrules"})


def check_time_zone(value: str) -> str:
    if value not in _known_zones() or value in _NOT_ZONES:
        raise ValueError(
            f"{value!r} is not a known IANA time zone (e.g. Europe/Berlin, America/New_York, UTC)"
        )
    return value


#: OpenAPI documentation of the rules enforced in code (the document says what the validators check).
#: Text: no control characters other than tab and line breaks.
TEXT_PATTERN = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*$"
#: Required text: the same, with at least one character that is not whitespace (text is trimmed).
NONBLANK_PATTERN = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*[^\s\x00-\x1f\x7f][^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*$"
#: A moment with a UTC offset in the years 1971 to 2098 (the API accepts 1970 to 2099 in UTC).
DATETIME_PATTERN = (
    r"^(197[1-9]|19[89][0-9]|20[0-8][0-9]|209[0-8])-(0[1-9]|1[0-2])-(0[1-9]|1[0-9]|2[0-8])"
    r"T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\.[0-9]{1,6})?(Z|[+-](0[0-9]|1[0-3]):[0-5][0-9])$"
)
#: Recurrence lines the document promises to accept (the API accepts more RFC 5545, see the description).
RECURRENCE_PATTERN = (
    r"^(RRULE:FREQ=(DAILY|WEEKLY|MONTHLY|YEARLY)(;INTERVAL=[1-9])?(;COUNT=[1-9][0-9]?)?"
    r"|EXDATE:20[3-8][0-9](0[1-9]|1[0-2])(0[1-9]|1[0-9]|2[0-8])T[01][0-9][0-5][0-9][0-5][0-9]Z)$"
)
HTTPS_PATTERN = r"^https://[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)+(/[A-Za-z0-9._~/-]*)?$"
WEB_URL_PATTERN = r"^https?://[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)+(/[A-Za-z0-9._~/-]*)?$"


def zone_names() -> list[JsonValue]:
    """Every IANA zone name the API accepts (the OpenAPI ``enum`` of ``timeZone``)."""
    return list(sorted(_known_zones() - _NOT_ZONES))


def _document_strings(schema: dict[str, Any], pattern: str) -> None:
    """Give every plain string in ``schema`` (a property, an array's items, a nullable's branch) ``pattern``."""
    if schema.get("type") == "string" and not ({"pattern", "enum", "format", "const"} & schema.keys()):
        schema["pattern"] = NONBLANK_PATTERN if schema.get("minLength", 0) >= 1 else pattern
    for branch in schema.get("anyOf", []):
        _document_strings(branch, pattern)
    if isinstance(schema.get("items"), dict):
        _document_strings(schema["items"], pattern)


def _document_model(schema: dict[str, Any], cls: type[Any]) -> None:
    """OpenAPI for a request model: the text rule on every string field (answers are not checked)."""
    if getattr(cls, "check_text", True):
        for prop in schema.get("properties", {}).values():
            _document_strings(prop, TEXT_PATTERN)
    if cls.__name__ in ("SessionCreate", "SessionBase"):
        # video 'manual' needs manualJoinLink; any other video has none (JSON Schema if/then/else).
        schema["allOf"] = [
            {
                "if": {"properties": {"video": {"const": "manual"}}, "required": ["video"]},
                "then": {"required": ["manualJoinLink"],
                         "properties": {"manualJoinLink": {"type": "string", "pattern": HTTPS_PATTERN}}},
                "else": {"properties": {"manualJoinLink": {"type": "null"}}},
            }
        ]


def _https_url(value: str) -> str:
    parsed = urlparse(value)
    if parsed.scheme != "https" or not parsed.netloc or " " in value:
        raise ValueError(f"{value!r} is not an https:// URL (e.g. https://zoom.example/j/123)")
    return value


def _web_url(value: str) -> str:
    parsed = urlparse(value)
    if parsed.scheme not in ("https", "http") or not parsed.netloc or any(c.isspace() for c in value):
        raise ValueError(f"{value!r} is not an http(s):// URL (e.g. https://learn.example/sessions/42)")
    return value


def _fmt(moment: datetime) -> str:
    return moment.isoformat(timespec="minutes")


#: Characters no text field may hold: control characters bar tab, line feed and carriage return; DEL; lone
#: surrogates. One compiled search per string (every string of every request body goes through it).
_BAD_CHARACTER = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")


def _bad_character(text: str) -> str | None:
    """The first character no text field may hold (control characters bar tab/newline, lone surrogates)."""
    found = _BAD_CHARACTER.search(text)
    return None if found is None else f"U+{ord(found.group()):04X}"


class ApiModel(BaseModel):
    """camelCase on the wire, unknown fields refused, strings trimmed, no control characters."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        str_strip_whitespace=True,
        json_schema_extra=_document_model,
    )
    #: False on answers built from stored rows: what is already saved is shown, never refused.
    check_text: ClassVar[bool] = True

    @field_validator("*", mode="after")
    @classmethod
    def _printable(cls, value: Any, info: ValidationInfo) -> Any:
        if not cls.check_text:
            return value
        texts = [value] if isinstance(value, str) else value if isinstance(value, list) else []
        for text in texts:
            bad = _bad_character(text) if isinstance(text, str) else None
            if bad is not None:
                raise ValueError(
                    f"{to_camel(info.field_name or 'value')} contains the control character {bad}; "
                    "remove it (only tabs and line breaks are allowed)"
                )
        return value


class RoomNeed(ApiModel):
    """What kind of room the session needs; Muster (policy) picks one unless ``email`` names it."""

    building: str | None = Field(default=None, max_length=100)
    min_capacity: int | None = Field(default=None, ge=1, le=10_000)
    features: list[Annotated[str, Field(min_length=1, max_length=100)]] = Field(
        default_factory=list, max_length=20
    )
    email: Email | None = Field(default=None, description="A specific room resource's calendar email.")


class EnrollmentBase(ApiModel):
    status: EnrollmentStatus = Field(
        default=EnrollmentStatus.ENROLLED,
        description="enrolled learners are invited; waitlisted ones are not.",
    )
    display_name: str | None = Field(default=None, max_length=200)


class EnrollmentCreate(EnrollmentBase):
    """One learner's place, identified by email (people are created on the fly)."""

    email: Email


class ResponsePublic(ApiModel):
    """A guest's answer to the invitation, as Muster last saw it on the event in Google."""

    check_text = False
    status: Literal["needsAction", "accepted", "tentative", "declined"]
    comment: str | None = Field(default=None, description="the note the guest wrote with the answer")
    at: datetime | None = Field(default=None, description="when Muster saw this answer first (UTC)")


def response_of(status: str | None, comment: str | None, at: datetime | None) -> ResponsePublic | None:
    """The public answer of a stored row (None: Muster has not seen the guest's copy answer yet)."""
    if status not in ("needsAction", "accepted", "tentative", "declined"):
        return None
    return ResponsePublic(status=status, comment=comment, at=at)


class EnrollmentPublic(ApiModel):
    check_text = False
    email: str
    status: EnrollmentStatus
    display_name: str | None = None
    updated_at: datetime
    response: ResponsePublic | None = Field(
        default=None, description="the learner's answer in Google (null: not seen yet, e.g. never invited)"
    )


class EnrollmentBulkCreate(ApiModel):
    """A list of learners. ``PUT`` replaces the whole set; ``PATCH`` merges the listed ones."""

    enrollments: list[EnrollmentCreate] = Field(max_length=5_000)

    @field_validator("enrollments")
    @classmethod
    def _unique(cls, value: list[EnrollmentCreate]) -> list[EnrollmentCreate]:
        _check_unique_emails(value)
        return value


class EnrollmentBulkPublic(ApiModel):
    check_text = False
    external_id: str
    changed: int = Field(description="How many enrollments were created or changed by this request.")
    enrolled_count: int
    waitlisted_count: int
    enrollments: list[EnrollmentPublic]


def _check_unique_emails(items: list[EnrollmentCreate]) -> None:
    seen: dict[str, int] = {}
    for index, item in enumerate(items):
        if item.email in seen:
            raise ValueError(
                f"{item.email} is listed twice (items {seen[item.email]} and {index}); list each learner once"
            )
        seen[item.email] = index


RecurrenceLine = Annotated[str, Field(max_length=500, json_schema_extra={"pattern": RECURRENCE_PATTERN})]


class ErrorBody(BaseModel):
    """The body of every error answer but 422: what went wrong and what to do."""

    detail: str = Field(examples=["no session 's-42' in this tenant"])


class SessionBase(ApiModel):
    """The fields a platform owns. Field order matters: later checks read earlier fields."""

    title: str = Field(min_length=1, max_length=500)
    description: str = Field(default="", max_length=8_000)
    time_zone: Annotated[str, AfterValidator(check_time_zone)] = Field(
        max_length=64,
        description="IANA zone the session is held in; recurrences keep local time there.",
        json_schema_extra={"enum": zone_names(), "examples": ["Europe/Berlin"]},
    )
    start: AwareDatetime = Field(
        description="RFC 3339 with a UTC offset, e.g. 2026-11-30T09:30:00+01:00; within the years 1970 to 2099.",
        json_schema_extra={"pattern": DATETIME_PATTERN, "examples": ["2026-11-30T09:30:00+01:00"]},
    )
    end: AwareDatetime = Field(
        description="RFC 3339 with a UTC offset; after start, and at most 14 days after it.",
        json_schema_extra={"pattern": DATETIME_PATTERN, "examples": ["2026-11-30T11:00:00+01:00"]},
    )
    recurrence: list[RecurrenceLine] | None = Field(
        default=None,
        max_length=10,
        description='RFC 5545 lines, e.g. ["RRULE:FREQ=WEEKLY;COUNT=6"]: RRULE, EXRULE, RDATE and EXDATE lines, '
        "at most one RRULE, no rule more frequent than daily, 500 characters in all. The pattern shows the "
        "common forms.",
    )
    location: str | None = Field(default=None, max_length=500)
    status: SessionStatus = SessionStatus.SCHEDULED
    video: VideoChoice = VideoChoice.NONE
    manual_join_link: str | None = Field(
        default=None,
        max_length=2_000,
        validate_default=True,
        description="Required when video is 'manual' (an https:// URL), and only then.",
        json_schema_extra={"format": "uri", "pattern": HTTPS_PATTERN},
    )
    url: Annotated[str, AfterValidator(_web_url)] | None = Field(
        default=None,
        max_length=2_000,
        description="The platform's own page for this session (http or https). The event's description "
        "links to it; without it the description has no link.",
        json_schema_extra={"format": "uri", "pattern": WEB_URL_PATTERN},
    )
    capacity: int | None = Field(default=None, ge=1, le=100_000)
    room: RoomNeed | None = None
    organizer: Email
    co_hosts: list[Email] = Field(default_factory=list, max_length=MAX_HOSTS)
    presenters: list[Email] = Field(default_factory=list, max_length=MAX_HOSTS)

    @field_validator("start")
    @classmethod
    def _start_in_range(cls, value: datetime) -> datetime:
        # The year first: comparing a moment near year 1 or 9999 across offsets overflows.
        if not _EARLIEST.year <= value.year < _LATEST.year or not _EARLIEST <= value < _LATEST:
            raise ValueError(f"start {_fmt(value)} is outside the years 1970 to 2099")
        return value.astimezone(UTC)

    @field_validator("end")
    @classmethod
    def _end_after_start(cls, value: datetime, info: ValidationInfo) -> datetime:
        start = info.data.get("start")
        if not _EARLIEST.year <= value.year < _LATEST.year:
            raise ValueError(f"end {_fmt(value)} is outside the years 1970 to 2099")
        if start is None:
            return value.astimezone(UTC)
        if value <= start:
            zone = info.data.get("time_zone")
            shown_start, shown_end = start, value
            if zone:
                shown_start = start.astimezone(zoneinfo.ZoneInfo(zone))
                shown_end = value.astimezone(zoneinfo.ZoneInfo(zone))
            word = "equal to" if value == start else "before"
            raise ValueError(
                f"end must be after start (got end {shown_end:%Y-%m-%d %H:%M} {word} start "
                f"{shown_start:%Y-%m-%d %H:%M}{' ' + zone if zone else ''})"
            )
        if value - start > MAX_DURATION:
            hours = (value - start).total_seconds() / 3600
            raise ValueError(
                f"the session would last {hours / 24:.1f} days ({hours:.0f} hours); the limit is "
                f"{MAX_DURATION.days} days"
            )
        return value.astimezone(UTC)

    @field_validator("recurrence", mode="before")
    @classmethod
    def _one_line_as_list(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @field_validator("recurrence")
    @classmethod
    def _recurrence_syntax(cls, value: list[str] | None) -> list[str] | None:
        if not value:
            return None
        for index, line in enumerate(value):
            try:
                check_recurrence_line(line)
            except RecurrenceSyntaxError as exc:
                raise ValueError(f"recurrence line {index} ({line!r}): {exc}") from None
        if sum(1 for line in value if line.startswith("RRULE")) > 1:
            raise ValueError("give at most one RRULE line")
        if len("\n".join(value)) > 500:
            raise ValueError("recurrence is longer than 500 characters in total")
        return value

    @field_validator("manual_join_link")
    @classmethod
    def _link_matches_video(cls, value: str | None, info: ValidationInfo) -> str | None:
        if "video" not in info.data:
            return value  # video itself was invalid; its error is reported
        video = info.data["video"]
        if video == VideoChoice.MANUAL:
            if not value:
                raise ValueError("video is 'manual', so manualJoinLink is required (an https:// URL)")
            return _https_url(value)
        if value:
            raise ValueError(
                f"manualJoinLink is only used when video is 'manual' (video is '{video.value}'); "
                "remove it or set video to 'manual'"
            )
        return None

    @field_validator("co_hosts", "presenters")
    @classmethod
    def _distinct_hosts(cls, value: list[str], info: ValidationInfo) -> list[str]:
        taken = {info.data.get("organizer")} | set(info.data.get("co_hosts") or ())
        for email in value:
            if email in taken:
                raise ValueError(f"{email} is already a host of this session; list each host once")
            taken.add(email)
        return value

    def host_emails(self) -> list[tuple[str, HostRole]]:
        """Hosts in order: the organizer first, then co-hosts, then presenters."""
        return (
            [(self.organizer, HostRole.ORGANIZER)]
            + [(e, HostRole.CO_HOST) for e in self.co_hosts]
            + [(e, HostRole.PRESENTER) for e in self.presenters]
        )


class SessionCreate(SessionBase):
    """Body of ``PUT /v1/sessions/{external_id}``: the whole session, replacing what was stored.

    ``enrollments``, when given, is the complete list of learners (anyone left out is cancelled); when
    omitted, stored enrollments are kept as they are.
    """

    external_id: str | None = Field(
        default=None, max_length=200, description="Optional; must equal the id in the path when given."
    )
    enrollments: list[EnrollmentCreate] | None = Field(default=None, max_length=5_000)

    @field_validator("enrollments")
    @classmethod
    def _enrollments_fit(
        cls, value: list[EnrollmentCreate] | None, info: ValidationInfo
    ) -> list[EnrollmentCreate] | None:
        if value is None:
            return None
        _check_unique_emails(value)
        hosts = {
            info.data.get("organizer"),
            *(info.data.get("co_hosts") or ()),
            *(info.data.get("presenters") or ()),
        }
        for item in value:
            if item.email in hosts:
                raise ValueError(f"{item.email} is a host of this session and cannot also be enrolled")
        enrolled = sum(1 for item in value if item.status == EnrollmentStatus.ENROLLED)
        room = 1 if info.data.get("room") is not None else 0
        check_attendee_cap(len(hosts - {None}) + enrolled + room)
        return value


def check_attendee_cap(total: int) -> None:
    """Raise ``ValueError`` when ``total`` attendees exceed :data:`MAX_ATTENDEES`."""
    if total > MAX_ATTENDEES:
        raise ValueError(
            f"the session would have {total} attendees (hosts + enrolled learners + room); the "
            f"limit is {MAX_ATTENDEES}: waitlist the extra learners or split the session"
        )


class HostPublic(ApiModel):
    check_text = False
    email: str
    role: HostRole
    response: ResponsePublic | None = Field(default=None, description="the host's answer in Google")


class AnswerCounts(ApiModel):
    """How the enrolled learners answered, as last seen in Google."""

    check_text = False
    accepted: int = 0
    tentative: int = 0
    declined: int = 0
    needs_action: int = Field(default=0, description="invited, no answer yet")
    not_seen: int = Field(default=0, description="enrolled, not yet seen on the event (not synced yet)")


class RoomExceptionPublic(ApiModel):
    """One date of a recurring session that the series room does not hold (it declined that date)."""

    check_text = False
    original_start: str = Field(description="the occurrence's original start (RFC 3339)")
    room_email: str | None = Field(default=None, description="the room booked for that date; null: none free")
    room_name: str | None = None
    room_status: str = Field(description="that room's answer (needsAction | accepted | tentative), or none")
    reason: str


class SyncPublic(ApiModel):
    """How the session stands in Google (from its calendar binding)."""

    check_text = False
    status: str = Field(description="pending | synced | error | blocked | removed")
    calendar_id: str | None = None
    event_id: str | None = None
    owner_email: str | None = None
    meet_link: str | None = None
    meet_status: str | None = Field(
        default=None,
        description="pending | success | failure (delegation); unsupported: vendor mode cannot create Meet links "
        "(meetError says what to do)",
    )
    meet_error: str | None = Field(
        default=None, description="why there is no Meet link, ending with when Muster tries again by itself"
    )
    room_email: str | None = None
    room_name: str | None = Field(default=None, description="the booked room's Directory name")
    room_status: str | None = Field(
        default=None,
        description="needsAction | accepted | declined (delegation); unsupported: vendor mode cannot book rooms",
    )
    room_error: str | None = Field(
        default=None,
        description="e.g. 'no room available: …' or a declined room; when Muster retries by itself it ends "
        "with when (see nextAttemptAt)",
    )
    room_exceptions: list[RoomExceptionPublic] = Field(
        default_factory=list,
        description="recurring sessions: dates the series room declined, each with its own room or none",
    )
    error_class: str | None = None
    last_error: str | None = None
    attempts: int = 0
    synced_revision: int | None = None
    last_synced_at: datetime | None = None
    next_attempt_at: datetime | None = None
    transfer_note: str | None = Field(
        default=None,
        description="why the event could not leave a departing "
        "organizer yet and what an admin must do (organizer lifecycle)",
    )


class SessionPublic(ApiModel):
    check_text = False
    id: uuid.UUID
    external_id: str
    title: str
    description: str
    time_zone: str
    start: datetime
    end: datetime
    recurrence: list[str] | None
    location: str | None
    status: SessionStatus
    video: VideoChoice
    manual_join_link: str | None
    url: str | None = Field(default=None, description="the platform's page for this session, as sent")
    capacity: int | None
    room: RoomNeed | None
    hosts: list[HostPublic]
    enrolled_count: int
    waitlisted_count: int
    answers: AnswerCounts = Field(
        default_factory=AnswerCounts, description="the enrolled learners' answers in Google (see GET …/enrollments)"
    )
    revision: int
    created_at: datetime
    updated_at: datetime
    deleted_at: datetime | None
    sync: SyncPublic


class SessionList(ApiModel):
    check_text = False
    items: list[SessionPublic]
    total: int
    limit: int
    offset: int


class StatusUpdate(ApiModel):
    """Optional note recorded in the audit log with a cancel or reopen."""

    reason: str | None = Field(default=None, max_length=500)


def dump(model: BaseModel) -> dict[str, Any]:
    """The camelCase JSON-ready dict of ``model``."""
    return model.model_dump(mode="json", by_alias=True)
