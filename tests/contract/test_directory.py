"""Contract: Admin SDK Directory (users, resources.calendars, buildings, features) via the real client."""

from __future__ import annotations

import json
from typing import Any

import pytest
from googleapiclient.errors import HttpError

from tests.contract import workspace_fixtures as fx
from tests.contract.workspace_fixtures import ADMIN, CAL_SCOPE, Workspace, room

workspace = fx.workspace

ACME_USERS = 213


def _err(exc: pytest.ExceptionInfo[HttpError]) -> tuple[int, str, str]:
    err = json.loads(exc.value.content)["error"]
    return exc.value.resp.status, err["errors"][0]["reason"], err["message"]


def _all(request: Any, collection: Any, key: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    while request is not None:
        page = request.execute()
        out.extend(page.get(key, []))
        request = collection.list_next(request, page)
    return out


def test_users_get_by_email_alias_and_id(workspace: Workspace) -> None:
    d = workspace.directory()
    seeded = workspace.seed["users"][1]
    by_email = d.users().get(userKey=seeded["primaryEmail"]).execute()
    assert by_email["kind"] == "admin#directory#user"
    assert by_email["id"] == seeded["id"] and by_email["name"] == seeded["name"]
    assert by_email["suspended"] is False and "suspensionReason" not in by_email
    assert "role" not in by_email  # seed-only fields never leak
    assert d.users().get(userKey=seeded["id"]).execute()["primaryEmail"] == seeded["primaryEmail"]
    status, _ = workspace.control("POST", "/_emulator/users", [
        {"primaryEmail": "alias.owner@acme.example", "aliases": ["a.owner@acme.example"]}])
    assert status == 200
    by_alias = d.users().get(userKey="a.owner@acme.example").execute()
    assert by_alias["primaryEmail"] == "alias.owner@acme.example"


def test_suspended_user_carries_reason(workspace: Workspace) -> None:
    tim = workspace.directory().users().get(userKey="tim.matsumoto11@acme.example").execute()
    assert tim["suspended"] is True and tim["suspensionReason"] == "ADMIN"


def test_users_list_pages_through_the_customer(workspace: Workspace) -> None:
    d = workspace.directory()
    users = _all(d.users().list(customer="my_customer", maxResults=50, orderBy="email"), d.users(), "users")
    emails = [u["primaryEmail"] for u in users]
    acme = [u for u in emails if u.endswith("@acme.example") and u != "alias.owner@acme.example"]
    assert len(acme) == ACME_USERS
    assert emails == sorted(emails) and len(set(emails)) == len(emails)
    assert not any(e.endswith("@muster-vendor.example") for e in emails)  # another customer
    first = d.users().list(customer="my_customer", maxResults=50).execute()
    assert len(first["users"]) == 50 and first["nextPageToken"]


def test_users_list_query_order_and_empty_envelope(workspace: Workspace) -> None:
    d = workspace.directory()
    suspended = d.users().list(customer="my_customer", query="isSuspended=true").execute()["users"]
    assert [u["primaryEmail"] for u in suspended] == ["tim.matsumoto11@acme.example"]
    prefix = d.users().list(domain="acme.example", query="email:ada").execute()["users"]
    assert prefix and all(u["primaryEmail"].startswith("ada") for u in prefix)
    active = d.users().list(customer="my_customer", query="isSuspended=false", maxResults=500).execute()
    assert all(u["suspended"] is False for u in active["users"])
    desc = d.users().list(customer="my_customer", orderBy="familyName", sortOrder="DESCENDING",
                          maxResults=500).execute()["users"]
    families = [u["name"]["familyName"].lower() for u in desc]
    assert families == sorted(families, reverse=True)
    empty = d.users().list(customer="my_customer", query="email:zzz-nobody").execute()
    assert empty["kind"] == "admin#directory#users" and "users" not in empty


def test_users_errors(workspace: Workspace) -> None:
    d = workspace.directory()
    with pytest.raises(HttpError) as missing:
        d.users().get(userKey="nobody@acme.example").execute()
    assert _err(missing) == (404, "notFound", "Resource Not Found: userKey")
    learner = next(u["primaryEmail"] for u in workspace.seed["users"] if u["role"] == "learner")
    with pytest.raises(HttpError) as forbidden:
        workspace.directory(learner).users().get(userKey=ADMIN).execute()
    assert _err(forbidden) == (403, "forbidden", "Not Authorized to access this resource/api")
    with pytest.raises(HttpError) as plain_sa:
        workspace.directory(None).users().list(customer="my_customer").execute()
    assert _err(plain_sa)[:2] == (403, "forbidden")
    with pytest.raises(HttpError) as too_many:
        d.users().list(customer="my_customer", maxResults=501).execute()
    assert too_many.value.resp.status == 400 and "maxResults" in too_many.value.content.decode()
    with pytest.raises(HttpError) as bad_query:
        d.users().list(customer="my_customer", query="shoeSize=42").execute()
    assert bad_query.value.resp.status == 400 and "shoeSize" in bad_query.value.content.decode()
    with pytest.raises(HttpError) as scope:
        workspace.service("admin", "directory_v1", ADMIN, [CAL_SCOPE]).users().get(userKey=ADMIN).execute()
    assert _err(scope)[:2] == (403, "insufficientPermissions")


def _expected_rooms(seed: dict[str, Any], building: str, min_capacity: int, feature: str) -> list[str]:
    return [r["resourceName"] for r in seed["rooms"] if r["buildingId"] == building
            and r["capacity"] >= min_capacity
            and feature in [f["feature"]["name"] for f in r["featureInstances"]]]


def test_resources_calendars_query_order_and_shape(workspace: Workspace) -> None:
    rooms = workspace.directory().resources().calendars()
    query = "buildingId=BER-HQ AND capacity>=8 AND featureInstances.feature.name:Whiteboard"
    got = rooms.list(customer="my_customer", orderBy="capacity desc", query=query).execute()
    assert got["kind"] == "admin#directory#resources#calendars#calendarResourcesList"
    names = [i["resourceName"] for i in got["items"]]
    assert sorted(names) == sorted(_expected_rooms(workspace.seed, "BER-HQ", 8, "Whiteboard")) and names
    caps = [i["capacity"] for i in got["items"]]
    assert caps == sorted(caps, reverse=True)
    item = got["items"][0]
    assert item["kind"] == "admin#directory#resources#calendars#CalendarResource" and item["etags"]
    assert "bookableBy" not in item and "autoAcceptInvitations" not in item and "timeZone" not in item
    assert item["featureInstances"][0]["feature"]["kind"] == "admin#directory#resources#features#Feature"
    not_berlin = rooms.list(customer="my_customer", query="NOT buildingId=BER-HQ").execute()["items"]
    assert not_berlin and all(i["buildingId"] != "BER-HQ" for i in not_berlin)
    exact = rooms.list(customer="my_customer", query="capacity=60").execute()["items"]
    assert [i["capacity"] for i in exact] == [60] * len(exact) and exact
    by_name = rooms.list(customer="my_customer", query="resourceName:Cu*").execute()["items"]
    assert [i["resourceName"] for i in by_name] == ["Curie", "Curie"]  # one per building


def test_resources_calendars_paging_get_and_errors(workspace: Workspace) -> None:
    d = workspace.directory()
    rooms = d.resources().calendars()
    everything = _all(rooms.list(customer="my_customer", maxResults=7), rooms, "items")
    assert len(everything) == len(workspace.seed["rooms"])
    curie = room(workspace.seed, "Curie")
    got = rooms.get(customer="my_customer", calendarResourceId=curie["resourceId"]).execute()
    assert got["resourceEmail"] == curie["resourceEmail"]
    assert got["generatedResourceName"] == "BER-HQ-3-Curie (8)"
    with pytest.raises(HttpError) as missing:
        rooms.get(customer="my_customer", calendarResourceId="999").execute()
    assert missing.value.resp.status == 404
    with pytest.raises(HttpError) as bad:
        rooms.list(customer="my_customer", query="colour=blue").execute()
    assert bad.value.resp.status == 400 and "colour" in bad.value.content.decode()
    with pytest.raises(HttpError) as other_customer:
        rooms.list(customer="C0nosuch").execute()
    assert other_customer.value.resp.status == 403


def test_buildings_and_features(workspace: Workspace) -> None:
    res = workspace.directory().resources()
    buildings = res.buildings().list(customer="my_customer").execute()
    assert buildings["kind"] == "admin#directory#resources#buildings#buildingsList"
    assert [b["buildingId"] for b in buildings["buildings"]] == ["BER-HQ", "NYC-9TH"]
    assert all("timeZone" not in b and b["etags"] for b in buildings["buildings"])
    nyc = res.buildings().get(customer="my_customer", buildingId="NYC-9TH").execute()
    assert nyc["floorNames"] == ["4", "9"]
    features = res.features().list(customer="my_customer").execute()
    assert features["kind"] == "admin#directory#resources#features#featuresList"
    assert {f["name"] for f in features["features"]} == set(workspace.seed["features"])
    board = res.features().get(customer="my_customer", featureKey="Whiteboard").execute()
    assert board["name"] == "Whiteboard"
    with pytest.raises(HttpError) as missing:
        res.buildings().get(customer="my_customer", buildingId="NOPE").execute()
    assert missing.value.resp.status == 404
