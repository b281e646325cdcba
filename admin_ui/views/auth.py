"""Sign-in and sign-out: the tenant (slug), email and password form.

Where it sits: the only admin views open to anonymous visitors. A successful sign-in starts a fresh
session (:func:`admin_ui.auth.sign_in`) and goes back to the page that asked for it; a failed one
re-renders the form with one message that does not say which part was wrong. Attempts are throttled per
account and per client address before the password is verified (:mod:`engine.admin.throttle`): a growing
delay, then a temporary lock answered 429 with the time it ends and an ``auth.locked`` audit entry.
"""

from __future__ import annotations

import logging

from fastapi import APIRouter, Depends, Request
from sqlmodel import Session, select
from starlette.datastructures import FormData
from starlette.responses import Response

from admin_ui.auth import csrf_form, db_engine, load_user, sign_in, sign_out
from admin_ui.templating import flash, redirect, render
from engine.admin import throttle
from engine.admin.accounts import authenticate
from engine.admin.google_sign_in import GOOGLE_ONLY, sign_in_policy
from engine.admin.queries import record_audit
from engine.store.models import Tenant
from engine.store.types import utcnow
from engine.store.unit_of_work import unit_of_work

router = APIRouter()
log = logging.getLogger(__name__)


def safe_next(value: object) -> str:
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
    return render(request, "admin/auth/login.html", {"next": safe_next(next), "form": {}, "error": None})


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
                "next": safe_next(values["next"]),
                "form": values,
                "error": "Fill in " + ", ".join(missing) + ".",
            },
            status_code=400,
        )
    with unit_of_work(db_engine(request)) as uow:
        tenant = uow.db.exec(select(Tenant).where(Tenant.slug == values["tenant"].strip().lower())).first()
        google_only = tenant is not None and not sign_in_policy(tenant).passwords
    if google_only:  # the tenant's choice (Integration > Policies): no password is looked at
        return render(
            request,
            "admin/auth/login.html",
            {"next": safe_next(values["next"]), "form": values, "error": GOOGLE_ONLY + " below."},
            status_code=400,
        )
    address = request.client.host if request.client else ""
    keys = throttle.keys_for(
        tenant_slug=values["tenant"], email=values["email"], address=address,
        limits=request.app.state.settings.sign_in_limits,
    )
    now = utcnow()
    refusal: throttle.Verdict | None = None
    with unit_of_work(db_engine(request)) as uow:
        verdict = throttle.check(db=uow.db, keys=keys, now=now)
        person = None
        if verdict.allowed:
            person = authenticate(db=uow.db, tenant_slug=values["tenant"], email=values["email"], password=password)
        if person is not None:
            throttle.record_success(db=uow.db, keys=keys)
            sign_in(request, person, uow.db)
        else:
            locked = throttle.record_failure(db=uow.db, keys=keys, now=now)
            _audit_locks(uow.db, values["tenant"], values["email"], address, locked)
            if not verdict.allowed or locked:  # refused, or this failure locked: say how long from now
                after = throttle.check(db=uow.db, keys=keys, now=now)
                refusal = after if not after.allowed else verdict
    if refusal is not None:
        response = render(
            request,
            "admin/auth/login.html",
            {"next": safe_next(values["next"]), "form": values, "error": refusal.message},
            status_code=429,
        )
        response.headers["Retry-After"] = str(refusal.retry_after_s)
        return response
    if person is None:
        return render(
            request,
            "admin/auth/login.html",
            {
                "next": safe_next(values["next"]),
                "form": values,
                "error": "Tenant, email or password is not right.",
            },
            status_code=400,
        )
    flash(request, f"Signed in as {person.email}.")
    return redirect(safe_next(values["next"]))


def _audit_locks(db: Session, tenant_slug: str, email: str, address: str, locked: list[throttle.Locked]) -> None:
    """One ``auth.locked`` audit entry per lock, in the tenant that was named (if it exists)."""
    if not locked:
        return
    tenant = db.exec(select(Tenant).where(Tenant.slug == tenant_slug.strip().lower())).first()
    if tenant is None:
        log.warning("sign-in locked for %s (unknown tenant %r)", ", ".join(lk.scope for lk in locked), tenant_slug)
        return
    for lock in locked:
        record_audit(
            db=db,
            tenant_id=tenant.id,
            actor=f"address:{address or 'unknown'}",
            action="auth.locked",
            subject=email.strip().lower(),
            detail={"scope": lock.scope, "failures": lock.failures, "until": lock.until.isoformat()},
        )


@router.post("/logout")
def logout(request: Request, _form: FormData = Depends(csrf_form)) -> Response:
    sign_out(request)
    flash(request, "Signed out.")
    return redirect("/admin/login")


@router.get("/welcome")
def welcome_form(request: Request, token: str = "") -> Response:
    """A one-time sign-in link (``muster user add`` / ``tenant create --admin``): choose a password."""
    from engine.admin.people import person_for_token
    from engine.store.models import ApiKeyKind

    with unit_of_work(db_engine(request)) as uow:
        found = person_for_token(db=uow.db, token=token, kind=ApiKeyKind.SIGN_IN) if token else None
        email = found[0].email if found else None
        google_only = found is not None and _google_only(uow.db, found[0].tenant_id)
    if google_only:
        return _google_only_welcome(request)
    status = 200 if email else 404
    return render(request, "admin/auth/welcome.html", {"token": token, "email": email, "error": None},
                  status_code=status)


def _google_only_welcome(request: Request) -> Response:
    context = {"token": "", "email": None, "error": GOOGLE_ONLY + " on the sign-in page.", "google_only": True}
    return render(request, "admin/auth/welcome.html", context, status_code=403)


def _google_only(db: Session, tenant_id: object) -> bool:
    tenant = db.get(Tenant, tenant_id)
    return tenant is not None and not sign_in_policy(tenant).passwords


@router.post("/welcome")
def welcome(request: Request, form: FormData = Depends(csrf_form)) -> Response:
    from engine.admin.accounts import AccountError
    from engine.admin.people import PeopleError, redeem_sign_in_link

    token = str(form.get("token") or "")
    password = str(form.get("password") or "")
    if password != str(form.get("password_again") or ""):
        return render(request, "admin/auth/welcome.html",
                      {"token": token, "email": "", "error": "The two passwords differ."}, status_code=400)
    from engine.admin.people import person_for_token
    from engine.store.models import ApiKeyKind

    with unit_of_work(db_engine(request)) as uow:
        found = person_for_token(db=uow.db, token=token, kind=ApiKeyKind.SIGN_IN) if token else None
        google_only = found is not None and _google_only(uow.db, found[0].tenant_id)
    if google_only:
        return _google_only_welcome(request)
    try:
        with unit_of_work(db_engine(request)) as uow:
            person = redeem_sign_in_link(db=uow.db, token=token, password=password)
            email = person.email
            sign_in(request, person, uow.db)
    except (PeopleError, AccountError) as exc:
        return render(request, "admin/auth/welcome.html", {"token": token, "email": "", "error": exc.message},
                      status_code=400)
    flash(request, f"Password set. Signed in as {email}.")
    return redirect("/admin/")
