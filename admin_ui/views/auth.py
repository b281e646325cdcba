"""Sign-in and sign-out: the tenant (slug), email and password form.

Where it sits: the only admin views open to anonymous visitors. A successful sign-in starts a fresh
session (:func:`admin_ui.auth.sign_in`) and goes back to the page that asked for it; a failed one
re-renders the form with one message that does not say which part was wrong.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from starlette.datastructures import FormData
from starlette.responses import Response

from admin_ui.auth import csrf_form, db_engine, load_user, sign_in, sign_out
from admin_ui.templating import flash, redirect, render
from engine.admin.accounts import authenticate
from engine.store.unit_of_work import unit_of_work

router = APIRouter()


def _safe_next(value: object) -> str:
    """Only same-site admin paths; anything else goes to the start page."""
    text = str(value or "")
    if text.startswith("/admin") and not text.startswith("//") and "\\" not in text:
        return text
    return "/admin/"


@router.get("/")
def index(request: Request) -> Response:
    if load_user(request) is None:
        return redirect("/admin/login")
    return redirect("/admin/sessions")


@router.get("/login")
def login_form(request: Request, next: str = "/admin/") -> Response:
    return render(request, "admin/auth/login.html", {"next": _safe_next(next), "form": {}, "error": None})


@router.post("/login")
def login(request: Request, form: FormData = Depends(csrf_form)) -> Response:
    values = {k: str(form.get(k) or "") for k in ("tenant", "email", "next")}
    password = str(form.get("password") or "")
    missing = [k for k in ("tenant", "email") if not values[k].strip()] + ([] if password else ["password"])
    if missing:
        return render(
            request,
            "admin/auth/login.html",
            {
                "next": _safe_next(values["next"]),
                "form": values,
                "error": "Fill in " + ", ".join(missing) + ".",
            },
            status_code=400,
        )
    with unit_of_work(db_engine(request)) as uow:
        person = authenticate(db=uow.db, tenant_slug=values["tenant"], email=values["email"], password=password)
        if person is not None:
            sign_in(request, person, uow.db)
    if person is None:
        return render(
            request,
            "admin/auth/login.html",
            {
                "next": _safe_next(values["next"]),
                "form": values,
                "error": "Tenant, email or password is not right.",
            },
            status_code=400,
        )
    flash(request, f"Signed in as {person.email}.")
    return redirect(_safe_next(values["next"]))


@router.post("/logout")
def logout(request: Request, _form: FormData = Depends(csrf_form)) -> Response:
    sign_out(request)
    flash(request, "Signed out.")
    return redirect("/admin/login")
