"""Admin SDK Directory API (users, calendar resources, buildings, features) of the emulator.

Where it sits: Google-facing routes under ``/admin/directory/v1/``; reads the world's users, rooms,
buildings and features (seeded by ``seed.py`` / the control API). Shapes follow the discovery
document: ``etags`` (plural) on resources/buildings/features, list keys ``items`` / ``buildings`` /
``features`` / ``users`` (``users`` omitted when empty), seed-only fields (``role``, ``bookableBy``,
``timeZone`` of a building ...) never leak into answers.

Permissions (stricter reading where Google's docs are vague): every call needs an administrator of the
customer (``isAdmin`` or ``isDelegatedAdmin``; a service account must impersonate one through DWD);
anyone else gets 403 ``forbidden`` "Not Authorized to access this resource/api". The one exception is
``users.list``/``users.get`` with ``viewType=domain_public``, which Google lets any user of the domain
read (public fields only). Unknown ``query`` terms are a 400 naming the term, never silently ignored.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Callable, Sequence
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from connectors.google_emulator.errors import ApiError
from connectors.google_emulator.oauth.auth import Caller, authenticate
from connectors.google_emulator.paths import path_param
from connectors.google_emulator.state import Resource, User, World, rfc3339

BASE = "/admin/directory/v1"
ROOM_FIELDS = ("kind", "etags", "resourceId", "resourceName", "generatedResourceName", "resourceType",
               "resourceDescription", "userVisibleDescription", "resourceEmail", "capacity", "buildingId",
               "floorName", "floorSection", "resourceCategory", "featureInstances")
BUILDING_FIELDS = ("kind", "etags", "buildingId", "buildingName", "description", "coordinates",
                   "floorNames", "address")
FEATURE_FIELDS = ("kind", "etags", "name")
USER_PASSTHROUGH = ("aliases", "lastLoginTime", "creationTime", "agreedToTerms", "archived",
                    "isEnrolledIn2Sv", "isEnforcedIn2Sv", "includeInGlobalAddressList", "isMailboxSetup",
                    "thumbnailPhotoUrl", "recoveryEmail", "organizations", "phones", "locations")


# ---------------------------------------------------------------------------------------- helpers
def forbidden() -> ApiError:
    return ApiError(403, "forbidden", "Not Authorized to access this resource/api")


def invalid(message: str, location: str | None = None) -> ApiError:
    return ApiError(400, "invalid", message, location=location,
                    location_type="parameter" if location else None)


def caller_domain(caller: Caller) -> str | None:
    return caller.user.domain if caller.user is not None else None


def require_admin(caller: Caller) -> User:
    user = caller.user
    if user is None or user.deleted or user.suspended:
        raise forbidden()
    if not (user.isAdmin or user.extra.get("isDelegatedAdmin")):
        raise forbidden()
    return user


def customer_domains(world: World, admin_domain: str, customer: str) -> set[str]:
    """Domains of ``customer`` (``my_customer`` or a customer id) visible to an admin of ``admin_domain``."""
    own = world.domains.get(admin_domain)
    if own is None:
        raise forbidden()
    if customer not in ("my_customer", own.customer_id):
        raise forbidden()
    return {d.name for d in world.domains.values() if d.customer_id == own.customer_id}


def int_param(request: Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise invalid(f"Invalid value '{raw}'. Values must match the following regular expression: "
                      "'-?\\d+'", name) from None
    if not low <= value <= high:
        raise invalid(f"Invalid value '{raw}' for {name}: must be between {low} and {high}.", name)
    return value


def _fingerprint(request: Request) -> str:
    items = sorted((k, v) for k, v in request.query_params.multi_items() if k not in ("pageToken", "alt"))
    return hashlib.sha256(repr(items).encode()).hexdigest()[:10]


def page(request: Request, items: Sequence[Any], size: int) -> tuple[list[Any], str | None]:
    """Offset paging with opaque tokens bound to the rest of the query (a token reused with another
    query is refused with a 400 naming ``pageToken``)."""
    start = 0
    token = request.query_params.get("pageToken")
    if token:
        try:
            fp, offset = base64.urlsafe_b64decode(token.encode()).decode().split(":")
            start = int(offset)
        except (ValueError, UnicodeDecodeError):
            raise invalid("Invalid page token.", "pageToken") from None
        if fp != _fingerprint(request) or start < 0:
            raise invalid("Invalid page token: it belongs to a different query.", "pageToken")
    chunk = list(items[start:start + size])
    nxt = None
    if start + size < len(items):
        nxt = base64.urlsafe_b64encode(f"{_fingerprint(request)}:{start + size}".encode()).decode()
    return chunk, nxt


def list_etag(parts: Sequence[Any]) -> str:
    digest = hashlib.sha1(repr(parts).encode(), usedforsecurity=False).hexdigest()
    return f'"{digest[:27]}/{digest[27:40]}"'


def _json(payload: dict[str, Any]) -> Response:
    return JSONResponse(payload)


# ------------------------------------------------------------------------------------------- users
def user_json(world: World, user: User, *, public: bool = False) -> dict[str, Any]:
    etag = list_etag([user.id, user.primaryEmail, user.suspended, user.deleted, user.isAdmin, user.name])
    name = dict(user.name) or {"givenName": user.email.split("@")[0], "familyName": "",
                               "fullName": user.email.split("@")[0]}
    if public:
        return {"kind": "admin#directory#user", "id": user.id, "etag": etag,
                "primaryEmail": user.primaryEmail, "name": name,
                "emails": [{"address": user.primaryEmail, "primary": True}]}
    dom = world.domains.get(user.domain)
    out: dict[str, Any] = {
        "kind": "admin#directory#user",
        "id": user.id,
        "etag": etag,
        "primaryEmail": user.primaryEmail,
        "name": name,
        "isAdmin": user.isAdmin,
        "isDelegatedAdmin": bool(user.extra.get("isDelegatedAdmin", False)),
        "lastLoginTime": "1970-01-01T00:00:00.000Z",
        "creationTime": "2024-01-08T09:00:00.000Z",
        "agreedToTerms": True,
        "suspended": user.suspended,
        "archived": False,
        "changePasswordAtNextLogin": False,
        "ipWhitelisted": False,
        "emails": [{"address": user.primaryEmail, "primary": True}],
        "customerId": dom.customer_id if dom else "my_customer",
        "orgUnitPath": user.orgUnitPath,
        "isMailboxSetup": True,
        "isEnrolledIn2Sv": False,
        "isEnforcedIn2Sv": False,
        "includeInGlobalAddressList": True,
    }
    for key in USER_PASSTHROUGH:
        if key in user.extra:
            out[key] = user.extra[key]
    if user.suspended:
        out["suspensionReason"] = user.suspensionReason or "ADMIN"
    if user.deleted:
        out["deletionTime"] = str(user.extra.get("deletionTime") or rfc3339(world.now()))
    return out


def find_user_by_key(world: World, key: str) -> User | None:
    key = key.strip()
    with world.lock:
        if "@" in key:
            user = world.find_user(key)
            if user is not None:
                return user
            low = key.lower()
            for u in world.users.values():
                if low in [str(a).lower() for a in u.extra.get("aliases", [])]:
                    return u
            return None
        return world.user_by_id(key)


_USER_TERM = re.compile(r"^(?P<field>[A-Za-z.]+)(?P<op>=|:)(?P<value>'[^']*'|\"[^\"]*\"|\S*)$")


def _user_matcher(query: str) -> Callable[[User], bool]:
    tests: list[Callable[[User], bool]] = []
    for term in re.findall(r"(?:[^\s'\"]|'[^']*'|\"[^\"]*\")+", query):
        m = _USER_TERM.match(term)
        if m is None:
            raise invalid(f"Invalid Input: query term '{term}' (expected field=value or field:value)",
                          "query")
        fld, op, value = m.group("field"), m.group("op"), m.group("value").strip("'\"")
        tests.append(_user_test(fld, op, value, term))
    return lambda u: all(t(u) for t in tests)


def _text_test(get: Callable[[User], str], op: str, value: str) -> Callable[[User], bool]:
    want = value.lower().rstrip("*")
    if op == "=":
        return lambda u: get(u).lower() == value.lower()
    return lambda u: get(u).lower().startswith(want) or any(
        w.startswith(want) for w in re.split(r"[\s.@]+", get(u).lower()))


def _user_test(fld: str, op: str, value: str, term: str) -> Callable[[User], bool]:
    if fld in ("isSuspended", "isAdmin", "isDelegatedAdmin"):
        if op != "=" or value.lower() not in ("true", "false"):
            raise invalid(f"Invalid Input: query term '{term}' must be {fld}=true or {fld}=false", "query")
        flag = value.lower() == "true"
        if fld == "isSuspended":
            return lambda u: u.suspended == flag
        if fld == "isAdmin":
            return lambda u: u.isAdmin == flag
        return lambda u: bool(u.extra.get("isDelegatedAdmin", False)) == flag
    if fld == "email":
        want = value.lower().rstrip("*")
        if op == "=" and not value.endswith("*"):
            return lambda u: u.email == value.lower()
        return lambda u: u.email.startswith(want)
    if fld in ("givenName", "familyName", "name"):
        key = {"givenName": "givenName", "familyName": "familyName", "name": "fullName"}[fld]
        return _text_test(lambda u: str(u.name.get(key, "")), op, value)
    if fld == "orgUnitPath":
        return lambda u: u.orgUnitPath.lower() == value.lower()
    raise invalid(f"Invalid Input: unsupported query field '{fld}' in '{term}' (supported: isSuspended, "
                  "isAdmin, isDelegatedAdmin, email, givenName, familyName, name, orgUnitPath)", "query")


def _users_auth(request: Request, world: World, method_id: str) -> tuple[Caller, bool]:
    caller = authenticate(request, world, method_id)
    view = request.query_params.get("viewType", "admin_view")
    if view not in ("admin_view", "domain_public"):
        raise invalid(f"Invalid value '{view}' for viewType.", "viewType")
    projection = request.query_params.get("projection", "basic")
    if projection not in ("basic", "custom", "full"):
        raise invalid(f"Invalid value '{projection}' for projection.", "projection")
    if view == "domain_public":
        if caller.user is None or caller.user.suspended:
            raise forbidden()
        return caller, True
    require_admin(caller)
    return caller, False


def users_get(world: World) -> Callable[[Request], Any]:
    async def run(request: Request) -> Response:
        caller, public = _users_auth(request, world, "directory.users.get")
        key = path_param(request, "userKey")
        user = find_user_by_key(world, key)
        if user is None or user.deleted:
            raise ApiError(404, "notFound", "Resource Not Found: userKey")
        own = caller_domain(caller) or ""
        if user.domain not in customer_domains(world, own, "my_customer"):
            raise forbidden()
        return _json(user_json(world, user, public=public))
    return run


def users_list(world: World) -> Callable[[Request], Any]:
    async def run(request: Request) -> Response:
        caller, public = _users_auth(request, world, "directory.users.list")
        q = request.query_params
        own = caller_domain(caller) or ""
        customer, domain = q.get("customer"), q.get("domain")
        if not customer and not domain:
            raise ApiError(400, "badRequest", "Bad Request")
        if domain:
            allowed = customer_domains(world, own, "my_customer")
            if domain.lower() not in allowed:
                raise forbidden()
            domains = {domain.lower()}
        else:
            domains = customer_domains(world, own, str(customer))
        size = int_param(request, "maxResults", 100, 1, 500)
        order = q.get("orderBy")
        if order not in (None, "email", "familyName", "givenName"):
            raise invalid(f"Invalid value '{order}' for orderBy (email, familyName or givenName).", "orderBy")
        sort = (q.get("sortOrder") or "ASCENDING").upper()
        if sort not in ("ASCENDING", "DESCENDING"):
            raise invalid(f"Invalid value '{q.get('sortOrder')}' for sortOrder.", "sortOrder")
        show_deleted = (q.get("showDeleted") or "false").lower() == "true"
        match = _user_matcher(q.get("query") or "")
        with world.lock:
            users = [u for u in world.users.values() if u.domain in domains and (u.deleted == show_deleted)
                     and match(u)]
        if order == "familyName":
            users.sort(key=lambda u: (str(u.name.get("familyName", "")).lower(), u.email))
        elif order == "givenName":
            users.sort(key=lambda u: (str(u.name.get("givenName", "")).lower(), u.email))
        else:
            users.sort(key=lambda u: u.email)
        if sort == "DESCENDING":
            users.reverse()
        chunk, nxt = page(request, users, size)
        out: dict[str, Any] = {"kind": "admin#directory#users",
                               "etag": list_etag([u.id for u in chunk])}
        if chunk:
            out["users"] = [user_json(world, u, public=public) for u in chunk]
        if nxt:
            out["nextPageToken"] = nxt
        return _json(out)
    return run


# ------------------------------------------------------------------------------------------- rooms
def room_json(res: Resource) -> dict[str, Any]:
    return {k: res.data[k] for k in ROOM_FIELDS if k in res.data}


def _room_value(res: Resource, fld: str) -> Any:
    data = res.data
    if fld in ("name", "resourceName"):
        return data.get("resourceName", "")
    if fld in ("floor_name", "floorName"):
        return data.get("floorName", "")
    if fld == "featureInstances.feature.name":
        return [str(f.get("feature", {}).get("name", "")) for f in data.get("featureInstances") or []]
    return data.get(fld)


ROOM_QUERY_FIELDS = ("generatedResourceName", "name", "resourceName", "buildingId", "floor_name", "floorName",
                     "capacity", "featureInstances.feature.name", "resourceEmail", "resourceCategory",
                     "resourceType")
_ROOM_TERM = re.compile(r"^(?P<field>[A-Za-z_.]+)\s*(?P<op>>=|<=|!=|=|:|>|<)\s*(?P<value>.*)$")


def _compare(actual: Any, op: str, value: str, fld: str, term: str) -> bool:
    if isinstance(actual, list):
        return any(_compare(a, op, value, fld, term) for a in actual) if op != "!=" else all(
            _compare(a, op, value, fld, term) for a in actual)
    if fld == "capacity":
        try:
            want = int(value)
        except ValueError:
            raise invalid(f"Invalid query: capacity needs a number in '{term}'", "query") from None
        have = int(actual or 0)
        return {"=": have == want, "!=": have != want, ">=": have >= want, "<=": have <= want,
                ">": have > want, "<": have < want, ":": have == want}[op]
    if op in (">=", "<=", ">", "<"):
        raise invalid(f"Invalid query: operator {op} only applies to capacity in '{term}'", "query")
    text = str(actual or "")
    if op == "=":
        return text == value
    if op == "!=":
        return text != value
    if value.endswith("*"):  # ':' with a trailing '*' is a prefix match
        return text.lower().startswith(value[:-1].lower())
    return text.lower() == value.lower() or value.lower() in text.lower().split()


def room_matcher(query: str) -> Callable[[Resource], bool]:
    """Directory's resource query language: ``a=b AND NOT c:d*`` (fields of the reference §4.1)."""
    if not query.strip():
        return lambda r: True
    tests: list[Callable[[Resource], bool]] = []
    for raw_term in re.split(r"\s+AND\s+", query.strip()):
        term = raw_term.strip()
        negate = False
        if term.startswith("NOT "):
            negate, term = True, term[4:].strip()
        m = _ROOM_TERM.match(term)
        if m is None:
            raise invalid(f"Invalid query: cannot parse '{raw_term}' (expected field<op>value)", "query")
        fld, op, value = m.group("field"), m.group("op"), m.group("value").strip().strip("'\"")
        if fld not in ROOM_QUERY_FIELDS:
            raise invalid(f"Invalid query: unsupported field '{fld}' (supported: "
                          f"{', '.join(ROOM_QUERY_FIELDS)})", "query")

        def test(res: Resource, fld: str = fld, op: str = op, value: str = value, neg: bool = negate,
                 term: str = raw_term) -> bool:
            return _compare(_room_value(res, fld), op, value, fld, term) != neg

        tests.append(test)
    return lambda r: all(t(r) for t in tests)


_ORDER_FIELDS = {"resourceId": "resourceId", "resourceName": "resourceName", "capacity": "capacity",
                 "buildingId": "buildingId", "floorName": "floorName"}


def _room_order(spec: str | None) -> list[tuple[str, bool]]:
    if not spec:
        return [("resourceId", False)]
    out = []
    for part in spec.split(","):
        bits = part.split()
        if not bits or bits[0] not in _ORDER_FIELDS or len(bits) > 2 or (
                len(bits) == 2 and bits[1].lower() not in ("asc", "desc")):
            raise invalid(f"Invalid orderBy '{part.strip()}' (fields {', '.join(_ORDER_FIELDS)}, "
                          "optionally followed by asc or desc)", "orderBy")
        out.append((bits[0], len(bits) == 2 and bits[1].lower() == "desc"))
    return out


def _resources_auth(request: Request, world: World, method_id: str) -> set[str]:
    caller = authenticate(request, world, method_id)
    admin = require_admin(caller)
    return customer_domains(world, admin.domain, path_param(request, "customer"))


def _visible_rooms(world: World, domains: set[str]) -> list[Resource]:
    with world.lock:
        return [r for r in world.resources.values()
                if not r.data.get("domain") or r.data["domain"] in domains]


def rooms_list(world: World) -> Callable[[Request], Any]:
    async def run(request: Request) -> Response:
        domains = _resources_auth(request, world, "directory.resources.calendars.list")
        size = int_param(request, "maxResults", 100, 1, 500)
        order = _room_order(request.query_params.get("orderBy"))
        match = room_matcher(request.query_params.get("query") or "")
        rooms = [r for r in _visible_rooms(world, domains) if match(r)]
        rooms.sort(key=lambda r: r.email)
        for fld, desc in reversed(order):
            if fld == "capacity":
                rooms.sort(key=lambda r: int(r.data.get("capacity") or 0), reverse=desc)
            else:
                name = _ORDER_FIELDS[fld]
                rooms.sort(key=lambda r: str(r.data.get(name) or ""), reverse=desc)
        chunk, nxt = page(request, rooms, size)
        out: dict[str, Any] = {"kind": "admin#directory#resources#calendars#calendarResourcesList",
                               "etag": list_etag([r.email for r in chunk]),
                               "items": [room_json(r) for r in chunk]}
        if nxt:
            out["nextPageToken"] = nxt
        return _json(out)
    return run


def rooms_get(world: World) -> Callable[[Request], Any]:
    async def run(request: Request) -> Response:
        domains = _resources_auth(request, world, "directory.resources.calendars.get")
        rid = path_param(request, "calendarResourceId")
        for res in _visible_rooms(world, domains):
            if res.data.get("resourceId") == rid:
                return _json(room_json(res))
        raise ApiError(404, "notFound", "Resource Not Found: calendarResourceId")
    return run


def _collection(world: World, kind: str) -> dict[str, dict[str, Any]]:
    return world.buildings if kind == "buildings" else world.features


def coll_list(world: World, kind: str) -> Callable[[Request], Any]:
    fields = BUILDING_FIELDS if kind == "buildings" else FEATURE_FIELDS
    list_kind = ("admin#directory#resources#buildings#buildingsList" if kind == "buildings"
                 else "admin#directory#resources#features#featuresList")

    async def run(request: Request) -> Response:
        _resources_auth(request, world, f"directory.resources.{kind}.list")
        size = int_param(request, "maxResults", 100, 1, 500)
        with world.lock:
            items = [dict(v) for _, v in sorted(_collection(world, kind).items())]
        chunk, nxt = page(request, items, size)
        out: dict[str, Any] = {"kind": list_kind, "etag": list_etag([repr(c) for c in chunk])}
        out[kind] = [{k: c[k] for k in fields if k in c} for c in chunk]
        if nxt:
            out["nextPageToken"] = nxt
        return _json(out)
    return run


def coll_get(world: World, kind: str) -> Callable[[Request], Any]:
    fields = BUILDING_FIELDS if kind == "buildings" else FEATURE_FIELDS
    key_param = "buildingId" if kind == "buildings" else "featureKey"

    async def run(request: Request) -> Response:
        _resources_auth(request, world, f"directory.resources.{kind}.get")
        key = path_param(request, key_param)
        with world.lock:
            item = _collection(world, kind).get(key)
            item = dict(item) if item is not None else None
        if item is None:
            raise ApiError(404, "notFound", f"Resource Not Found: {key_param}")
        return _json({k: item[k] for k in fields if k in item})
    return run


def routes(world: World) -> list[BaseRoute]:
    res = f"{BASE}/customer/{{customer}}/resources"
    return [
        Route(f"{BASE}/users", users_list(world), methods=["GET"]),
        Route(f"{BASE}/users/{{userKey}}", users_get(world), methods=["GET"]),
        Route(f"{res}/calendars", rooms_list(world), methods=["GET"]),
        Route(f"{res}/calendars/{{calendarResourceId}}", rooms_get(world), methods=["GET"]),
        Route(f"{res}/buildings", coll_list(world, "buildings"), methods=["GET"]),
        Route(f"{res}/buildings/{{buildingId}}", coll_get(world, "buildings"), methods=["GET"]),
        Route(f"{res}/features", coll_list(world, "features"), methods=["GET"]),
        Route(f"{res}/features/{{featureKey}}", coll_get(world, "features"), methods=["GET"]),
    ]
