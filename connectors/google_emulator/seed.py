"""Loads a Workspace description (``acme-workspace.json`` format) into the emulator's world.

Where it sits: called by ``server.py`` (``EmulatorServer(seed=...)``, ``muster emulator --seed``) and by
the control API (``POST /_emulator/seed`` and the per-kind endpoints), which reuse the ``add_*``
functions below so every entry is validated the same way. Bad input raises :class:`SeedError` naming the
offending field (``users[3].primaryEmail``) — the control API turns that into a 400.

What a seed may hold (all keys optional): ``customerDomain``, ``domains``, ``users``, ``externalGuests``,
``buildings``, ``features``, ``rooms`` (Directory CalendarResource JSON plus our ``bookableBy``),
``vendor`` (domain, ``serviceAccount``, ``ownerAccounts``; the vendor's own delegation grant for the
Calendar scope is added unless ``ownDomainDelegation`` is false), ``serviceAccounts``,
``domainWideDelegation`` (one grant or a list), ``oauthClients``. A service account without a
``private_key`` gets a fresh RSA key pair here; its JSON key (``token_uri`` pointing at the emulator)
is served by ``GET /_emulator/service-accounts/{email}/key``.
"""

from __future__ import annotations

import json
import re
import secrets
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from connectors.google_emulator.state import World, new_numeric_id

EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
FEATURE_KIND = "admin#directory#resources#features#Feature"
BUILDING_KIND = "admin#directory#resources#buildings#Building"
ROOM_KIND = "admin#directory#resources#calendars#CalendarResource"
PRIVATE_KEYS = "sa_private_keys"  # world.extra key: client_email → (private_key_id, PEM)
EXTERNAL_GUESTS = "external_guests"  # world.extra key: list of seed externalGuests entries


class SeedError(ValueError):
    """Bad seed input; ``field`` is the JSON path of the culprit."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


def _obj(raw: Any, where: str) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise SeedError(where, "must be a JSON object")
    return raw


def _list(raw: Any, where: str) -> list[Any]:
    if not isinstance(raw, list):
        raise SeedError(where, "must be a JSON list")
    return raw


def _email(raw: Any, where: str) -> str:
    if not isinstance(raw, str) or not EMAIL.match(raw):
        raise SeedError(where, f"must be an e-mail address, got {raw!r}")
    return raw.lower()


def _str(raw: Any, where: str, *, required: bool = True) -> str | None:
    if raw is None and not required:
        return None
    if not isinstance(raw, str) or not raw.strip():
        raise SeedError(where, "must be a non-empty string")
    return raw


def _etag(world: World) -> str:
    return f'"{secrets.token_urlsafe(20)}/{secrets.token_urlsafe(16)}"'


# ------------------------------------------------------------------------------------------ entries
def add_domains(world: World, raw: Any, where: str = "domains") -> None:
    for i, item in enumerate(_list(raw, where)):
        if isinstance(item, str):
            world.add_domain(_str(item, f"{where}[{i}]") or "")
            continue
        obj = _obj(item, f"{where}[{i}]")
        name = _str(obj.get("name"), f"{where}[{i}].name") or ""
        world.add_domain(name, _str(obj.get("customerId"), f"{where}[{i}].customerId", required=False))


def add_users(world: World, raw: Any, where: str = "users") -> list[str]:
    added: list[str] = []
    for i, item in enumerate(_list(raw, where)):
        here = f"{where}[{i}]"
        obj = dict(_obj(item, here))
        email = _email(obj.pop("primaryEmail", None), f"{here}.primaryEmail")
        name = obj.pop("name", None) or {}
        if not isinstance(name, dict):
            raise SeedError(f"{here}.name", "must be an object with givenName/familyName")
        local = email.split("@", 1)[0]
        given = str(name.get("givenName") or local.split(".")[0].capitalize())
        family = str(name.get("familyName") or "")
        full = str(name.get("fullName") or f"{given} {family}".strip())
        for flag in ("isAdmin", "suspended"):
            if flag in obj and not isinstance(obj[flag], bool):
                raise SeedError(f"{here}.{flag}", "must be true or false")
        if "id" in obj and not (isinstance(obj["id"], str) and obj["id"].isdigit()):
            raise SeedError(f"{here}.id", "must be a numeric string (Directory user id)")
        if "timeZone" in obj:
            _str(obj["timeZone"], f"{here}.timeZone")
        if obj.get("suspended") and not obj.get("suspensionReason"):
            obj["suspensionReason"] = "ADMIN"
        if not obj.get("suspended"):
            obj.pop("suspensionReason", None)
        world.add_user(email, name={"givenName": given, "familyName": family, "fullName": full}, **obj)
        added.append(email)
    return added


def add_external_guests(world: World, raw: Any, where: str = "externalGuests") -> None:
    guests = world.extra.setdefault(EXTERNAL_GUESTS, [])
    for i, item in enumerate(_list(raw, where)):
        obj = _obj(item, f"{where}[{i}]")
        email = _email(obj.get("email"), f"{where}[{i}].email")
        if world.is_domain_email(email):
            raise SeedError(f"{where}[{i}].email", "an external guest cannot belong to a Workspace domain")
        guests.append({**obj, "email": email})


def add_buildings(world: World, raw: Any, where: str = "buildings") -> None:
    for i, item in enumerate(_list(raw, where)):
        here = f"{where}[{i}]"
        obj = dict(_obj(item, here))
        bid = _str(obj.get("buildingId"), f"{here}.buildingId") or ""
        floors = obj.get("floorNames", [])
        if not isinstance(floors, list) or not all(isinstance(f, str) for f in floors):
            raise SeedError(f"{here}.floorNames", "must be a list of strings")
        obj.setdefault("buildingName", bid)
        with world.lock:
            world.buildings[bid] = {"kind": BUILDING_KIND, "etags": _etag(world), **obj}


def add_features(world: World, raw: Any, where: str = "features") -> None:
    for i, item in enumerate(_list(raw, where)):
        name = item if isinstance(item, str) else _obj(item, f"{where}[{i}]").get("name")
        name = _str(name, f"{where}[{i}]" + ("" if isinstance(item, str) else ".name")) or ""
        with world.lock:
            world.features[name] = {"kind": FEATURE_KIND, "etags": _etag(world), "name": name}


def add_rooms(world: World, raw: Any, where: str = "rooms", domain: str | None = None) -> list[str]:
    added: list[str] = []
    for i, item in enumerate(_list(raw, where)):
        here = f"{where}[{i}]"
        obj = dict(_obj(item, here))
        name = _str(obj.get("resourceName"), f"{here}.resourceName") or ""
        rid = obj.get("resourceId") or new_numeric_id(world.rng, 11)
        if not isinstance(rid, str):
            raise SeedError(f"{here}.resourceId", "must be a string")
        if "capacity" in obj and (isinstance(obj["capacity"], bool) or not isinstance(obj["capacity"], int)
                                  or obj["capacity"] < 0):
            raise SeedError(f"{here}.capacity", "must be a non-negative integer")
        email = obj.get("resourceEmail") or f"c_{secrets.token_hex(12)}@resource.calendar.google.com"
        email = _email(email, f"{here}.resourceEmail")
        bookable = obj.pop("bookableBy", None) or []
        if not isinstance(bookable, list):
            raise SeedError(f"{here}.bookableBy", "must be a list of e-mail addresses")
        bookable = [_email(b, f"{here}.bookableBy[{j}]") for j, b in enumerate(bookable)]
        building = obj.get("buildingId")
        if building is not None and building not in world.buildings:
            raise SeedError(f"{here}.buildingId",
                            f"unknown building {building!r}; add it under buildings first")
        features = obj.get("featureInstances", [])
        if not isinstance(features, list):
            raise SeedError(f"{here}.featureInstances", "must be a list of {feature: {name}}")
        instances = []
        for j, inst in enumerate(features):
            fname = inst.get("feature", {}).get("name") if isinstance(inst, dict) else None
            if not isinstance(fname, str) or not fname:
                raise SeedError(f"{here}.featureInstances[{j}].feature.name", "must be a feature name")
            if fname not in world.features:
                add_features(world, [fname])
            instances.append({"feature": dict(world.features[fname])})
        if "timeZone" not in obj and building is not None:
            obj["timeZone"] = world.buildings[building].get("timeZone", "UTC")
        generated = obj.get("generatedResourceName") or _generated_name(obj, name)
        data = {**obj, "kind": ROOM_KIND, "etags": _etag(world), "resourceId": rid, "resourceName": name,
                "generatedResourceName": generated, "resourceEmail": email, "featureInstances": instances}
        data.setdefault("resourceCategory", "CONFERENCE_ROOM")
        if domain:
            data.setdefault("domain", domain)
        world.add_resource(data, bookable_by=bookable)
        with world.lock:
            cal = world.calendars[email]
            cal.conference_types = []
        added.append(email)
    return added


def _generated_name(obj: dict[str, Any], name: str) -> str:
    parts = [str(obj[k]) for k in ("buildingId", "floorName") if obj.get(k)]
    suffix = f" ({obj['capacity']})" if obj.get("capacity") is not None else ""
    return "-".join([*parts, name]) + suffix


def _new_key() -> tuple[str, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption()).decode()
    public_pem = key.public_key().public_bytes(serialization.Encoding.PEM,
                                               serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    return private_pem, public_pem


def add_service_account(world: World, raw: Any, where: str = "serviceAccount") -> str:
    obj = _obj(raw, where)
    email = _email(obj.get("client_email"), f"{where}.client_email")
    client_id = obj.get("client_id")
    if client_id is not None and not (isinstance(client_id, str) and client_id.isdigit()):
        raise SeedError(f"{where}.client_id", "must be a numeric string")
    private_pem = obj.get("private_key")
    if private_pem is None:
        private_pem, public_pem = _new_key()
    else:
        try:
            key = serialization.load_pem_private_key(str(private_pem).encode(), password=None)
        except (ValueError, TypeError) as exc:
            raise SeedError(f"{where}.private_key", f"not a PEM private key ({exc})") from None
        public_pem = key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    key_id = str(obj.get("private_key_id") or secrets.token_hex(20))
    project = str(obj.get("project_id") or email.split("@", 1)[1].split(".", 1)[0])
    sa = world.add_service_account(email, public_pem, private_key_id=key_id, client_id=client_id,
                                   project_id=project)
    with world.lock:
        world.extra.setdefault(PRIVATE_KEYS, {})[sa.client_email] = (key_id, private_pem)
    return sa.client_email


def service_account_key(world: World, email: str, base_url: str) -> dict[str, Any] | None:
    """The JSON key file Google would let you download, with the emulator's token URI."""
    with world.lock:
        sa = world.service_accounts.get(email.lower())
        stored = world.extra.get(PRIVATE_KEYS, {}).get(email.lower())
    if sa is None or stored is None:
        return None
    base = base_url.rstrip("/")
    return {
        "type": "service_account",
        "project_id": sa.project_id,
        "private_key_id": stored[0],
        "private_key": stored[1],
        "client_email": sa.client_email,
        "client_id": sa.client_id,
        "auth_uri": f"{base}/o/oauth2/v2/auth",
        "token_uri": f"{base}/token",
        "auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
        "client_x509_cert_url": f"https://www.googleapis.com/robot/v1/metadata/x509/{sa.client_email}",
        "universe_domain": "googleapis.com",
    }


#: What a vendor grants its own service account on its own domain (vendor mode needs nothing else).
VENDOR_OWN_SCOPES = ("https://www.googleapis.com/auth/calendar",)


def add_grants(world: World, raw: Any, where: str = "domainWideDelegation") -> None:
    items = raw if isinstance(raw, list) else [raw]
    for i, item in enumerate(items):
        here = f"{where}[{i}]" if isinstance(raw, list) else where
        obj = _obj(item, here)
        client_id = obj.get("clientId")
        if not isinstance(client_id, str) or not client_id.isdigit():
            raise SeedError(f"{here}.clientId", "must be the service account's numeric client id")
        domain = _str(obj.get("customerDomain"), f"{here}.customerDomain") or ""
        scopes = obj.get("scopes")
        if not isinstance(scopes, list) or not scopes or not all(
                isinstance(s, str) and s.startswith("https://www.googleapis.com/auth/") for s in scopes):
            raise SeedError(f"{here}.scopes",
                            "must be a non-empty list of https://www.googleapis.com/auth/… URLs")
        world.add_delegation_grant(client_id, domain, list(scopes))


def add_oauth_clients(world: World, raw: Any, where: str = "oauthClients") -> None:
    for i, item in enumerate(_list(raw, where)):
        obj = _obj(item, f"{where}[{i}]")
        cid = _str(obj.get("client_id"), f"{where}[{i}].client_id") or ""
        secret = _str(obj.get("client_secret"), f"{where}[{i}].client_secret") or ""
        uris = obj.get("redirect_uris", [])
        if not isinstance(uris, list) or not all(isinstance(u, str) for u in uris):
            raise SeedError(f"{where}[{i}].redirect_uris", "must be a list of URLs")
        world.add_oauth_client(cid, secret, uris)


# ------------------------------------------------------------------------------------------ whole seed
SEED_KEYS = ("description", "customerDomain", "domains", "users", "externalGuests", "buildings", "features",
             "rooms", "vendor", "serviceAccounts", "domainWideDelegation", "oauthClients")


def load_seed(world: World, seed: Path | str | dict[str, Any]) -> None:
    """Apply a whole seed (file path or parsed JSON) to ``world``."""
    if isinstance(seed, Path | str):
        path = Path(seed)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise SeedError("seed", f"file {path} does not exist") from None
        except ValueError as exc:
            raise SeedError("seed", f"{path} is not valid JSON ({exc})") from None
    else:
        data = seed
    data = _obj(data, "seed")
    for key in data:
        if key not in SEED_KEYS:
            raise SeedError(key, f"unknown seed section; allowed: {', '.join(SEED_KEYS)}")
    customer = data.get("customerDomain")
    if customer is not None:
        world.add_domain(_str(customer, "customerDomain") or "")
    if "domains" in data:
        add_domains(world, data["domains"])
    vendor = data.get("vendor")
    if vendor is not None:
        vendor = _obj(vendor, "vendor")
        world.add_domain(_str(vendor.get("domain"), "vendor.domain") or "")
    if "users" in data:
        add_users(world, data["users"])
    if "externalGuests" in data:
        add_external_guests(world, data["externalGuests"])
    if "buildings" in data:
        add_buildings(world, data["buildings"])
    if "features" in data:
        add_features(world, data["features"])
    if "rooms" in data:
        add_rooms(world, data["rooms"], domain=customer)
    if vendor is not None:
        if "serviceAccount" in vendor:
            add_service_account(world, vendor["serviceAccount"], "vendor.serviceAccount")
        owners = _list(vendor.get("ownerAccounts", []), "vendor.ownerAccounts")
        owner_users = [{"primaryEmail": _email(o, f"vendor.ownerAccounts[{i}]")}
                       for i, o in enumerate(owners)]
        add_users(world, owner_users, "vendor.ownerAccounts")
        sa = vendor.get("serviceAccount")
        if isinstance(sa, dict) and owners and vendor.get("ownDomainDelegation", True):
            # The vendor administers its own Workspace: acting for its owner accounts needs the same
            # domain-wide delegation any service account needs, granted in the vendor's Admin console
            # for the Calendar scope only. ``"ownDomainDelegation": false`` seeds a vendor that forgot.
            add_grants(world, {"clientId": sa.get("client_id"), "customerDomain": vendor.get("domain"),
                               "scopes": list(VENDOR_OWN_SCOPES)}, "vendor.serviceAccount")
    for i, sa in enumerate(_list(data.get("serviceAccounts", []), "serviceAccounts")):
        add_service_account(world, sa, f"serviceAccounts[{i}]")
    if "domainWideDelegation" in data:
        add_grants(world, data["domainWideDelegation"])
    if "oauthClients" in data:
        add_oauth_clients(world, data["oauthClients"])
