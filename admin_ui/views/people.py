"""People page (admins; viewers read): who has an admin-side role in this tenant; add, change role, remove.

Where it sits: reads :func:`engine.admin.people.list_people` and writes through the same functions as the
admin REST API (``/v1/admin/people``) and ``muster user add/deactivate/sign-in-link``
(:mod:`engine.admin.people`), so the rules are the same everywhere: a role is exactly what an admin granted,
a suspended or deleted account gets none, the tenant's last admin can be neither demoted nor removed, and
removing someone ends their password, tokens, sign-in links and signed-in sessions. Every change is
audited as ``user:<email>``. Only people of the signed-in tenant are found (another tenant's address is a
404, as an unknown one). A bad form value is shown beside its field (400) and nothing is saved; a saved
change redirects (303) back to the list. A new sign-in link is shown once, on the page that created it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from fastapi import APIRouter, Depends, Request
from sqlmodel import Session
from starlette.datastructures import FormData
from starlette.responses import Response

from admin_ui.auth import CurrentUser, NotFound, csrf_form, db_engine, require
from admin_ui.templating import flash, redirect, render
from engine.admin import people as people_data
from engine.admin.roles import ADMIN_ROLES, Need
from engine.store.models import Person, Tenant
from engine.store.unit_of_work import unit_of_work

router = APIRouter()
T = TypeVar("T")


def _in_tenant(request: Request, user: CurrentUser, work: Callable[[Session, Tenant], T]) -> T:
    """Run ``work(db, tenant)`` for the signed-in tenant in one unit of work (committed when it returns)."""
    with unit_of_work(db_engine(request)) as uow:
        tenant = uow.db.get(Tenant, user.tenant_id)
        assert tenant is not None
        return work(uow.db, tenant)


def _rows(request: Request, user: CurrentUser, everyone: bool) -> list[dict[str, Any]]:
    def rows(db: Session, tenant: Tenant) -> list[dict[str, Any]]:
        return [
            {
                "email": p.email,
                "display_name": p.display_name,
                "role": p.admin_role,
                "status": p.status,
                "hosts_sessions": "organizer" in (p.roles or []),
                "has_password": p.password_hash is not None,
                "is_me": p.id == user.person_id,
            }
            for p in people_data.list_people(db=db, tenant=tenant, everyone=everyone)
        ]

    return _in_tenant(request, user, rows)


def _page(
    request: Request, user: CurrentUser, *, everyone: bool = False, status_code: int = 200, **extra: Any
) -> Response:
    ctx: dict[str, Any] = {
        "rows": _rows(request, user, everyone),
        "everyone": everyone,
        "roles": ADMIN_ROLES,
        "can_edit": user.is_admin,
        "errors": {},
        "values": {"email": "", "display_name": "", "role": "organizer"},
        "link": None,
    }
    ctx.update(extra)
    return render(request, "admin/people/list.html", ctx, status_code=status_code)


@router.get("/people")
def people_page(request: Request, all: str = "", user: CurrentUser = Depends(require(Need.READ_TENANT))) -> Response:
    return _page(request, user, everyone=all == "1")


def _text(form: FormData, name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


def _failed(request: Request, user: CurrentUser, exc: people_data.PeopleError, values: dict[str, str]) -> Response:
    if exc.status_code == 404:
        raise NotFound("person")
    field = {"displayName": "display_name"}.get(exc.field, exc.field)
    return _page(request, user, status_code=400, errors={field: exc.message}, values=values)


@router.post("/people")
def add_person(
    request: Request, user: CurrentUser = Depends(require(Need.MANAGE_TENANT)), form: FormData = Depends(csrf_form)
) -> Response:
    """Grant a role to an address, creating the person when Muster does not know them yet."""
    values = {"email": _text(form, "email"), "display_name": _text(form, "display_name"), "role": _text(form, "role")}
    if not values["email"]:
        return _page(request, user, status_code=400, values=values,
                     errors={"email": "enter the person's e-mail address"})
    if values["role"] not in ADMIN_ROLES:
        return _page(request, user, status_code=400, values=values,
                     errors={"role": f"choose one of {', '.join(ADMIN_ROLES)}"})
    try:
        email, role, created = _in_tenant(request, user, lambda db, tenant: _granted(people_data.add_person(
            db=db, tenant=tenant, email=values["email"], role=values["role"],
            display_name=values["display_name"] or None, actor=user.actor,
        )))
    except people_data.PeopleError as exc:
        return _failed(request, user, exc, values)
    return _done(request, f"{email} added as {role}." if created else f"{email} is now {role}.")


def _granted(added: tuple[Person, bool]) -> tuple[str, str | None, bool]:
    """(email, role, created) of :func:`engine.admin.people.add_person`'s answer, read inside its unit of work."""
    person, created = added
    return person.email, person.admin_role, created


def _known(request: Request, user: CurrentUser, email: str) -> str:
    """The address of a person of this tenant (404 otherwise: another tenant's person is not revealed)."""
    def find(db: Session, tenant: Tenant) -> str | None:
        try:
            person = people_data.find_person(db=db, tenant=tenant, email=email)
        except ValueError:
            return None
        return person.email if person is not None else None

    address = _in_tenant(request, user, find)
    if address is None:
        raise NotFound("person")
    return address


def _done(request: Request, message: str) -> Response:
    flash(request, message)
    return redirect("/admin/people")


def _change_row(
    request: Request, user: CurrentUser, error_key: str,
    work: Callable[[Session, Tenant], T], then: Callable[[T], Response],
) -> Response:
    """A change to one person's row: saved and answered by ``then``, or the list again with the error beside the row."""
    try:
        result = _in_tenant(request, user, work)
    except people_data.PeopleError as exc:
        return _page(request, user, status_code=400, errors={error_key: exc.message})
    return then(result)


@router.post("/people/{email}/role")
def change_role(
    request: Request,
    email: str,
    user: CurrentUser = Depends(require(Need.MANAGE_TENANT)),
    form: FormData = Depends(csrf_form),
) -> Response:
    address = _known(request, user, email)
    role = _text(form, "role")
    if role not in ADMIN_ROLES:
        return _page(request, user, status_code=400,
                     errors={f"role:{address}": f"choose one of {', '.join(ADMIN_ROLES)}"})
    return _change_row(
        request, user, f"role:{address}",
        lambda db, tenant: people_data.add_person(db=db, tenant=tenant, email=address, role=role, actor=user.actor),
        lambda _: _done(request, f"{address} is now {role}."),
    )


@router.post("/people/{email}/deactivate")
def remove_person(
    request: Request,
    email: str,
    user: CurrentUser = Depends(require(Need.MANAGE_TENANT)),
    _form: FormData = Depends(csrf_form),
) -> Response:
    address = _known(request, user, email)
    return _change_row(
        request, user, f"row:{address}",
        lambda db, tenant: people_data.deactivate(db=db, tenant=tenant, email=address, actor=user.actor),
        lambda _: _done(request, f"{address} removed: no role, password, tokens or sign-in links are left."),
    )


@router.post("/people/{email}/sign-in-link")
def new_sign_in_link(
    request: Request,
    email: str,
    user: CurrentUser = Depends(require(Need.MANAGE_TENANT)),
    _form: FormData = Depends(csrf_form),
) -> Response:
    address = _known(request, user, email)
    base_url = request.app.state.settings.base_url
    return _change_row(
        request, user, f"row:{address}",
        lambda db, tenant: people_data.sign_in_link(
            db=db, tenant=tenant, email=address, base_url=base_url, actor=user.actor),
        lambda url: _page(request, user, link={"email": address, "url": url}),
    )
