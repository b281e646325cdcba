"""Sign in with Google (OpenID Connect): the "Sign in with Google" button and Google's answer.

Where it sits: admin views open to anonymous visitors, beside :mod:`admin_ui.views.auth` (passwords).
Decisions are :mod:`engine.admin.google_sign_in`'s; Google is reached through the port the composition root
hands out (:func:`engine.runtime.wiring.google_sign_in`), never inside a database transaction.

* ``POST /admin/login/google`` (the sign-in page's second form: workspace, CSRF token) starts a sign-in: the
  state, nonce and PKCE verifier go into the signed session cookie and the browser goes to Google.
* ``GET /admin/login/google/callback`` finishes it: the answer must carry this browser's state; the code is
  redeemed and the ID token verified; the person must match by email, hold a granted role and be active.
  Success starts a server-side session (:func:`admin_ui.auth.sign_in`) and writes ``auth.google_sign_in``
  to the audit log; each refusal is a page naming the problem and the fix (``auth.google_refused`` in the
  audit log once the tenant is known).
"""

from __future__ import annotations

import logging
import time
import uuid

from fastapi import APIRouter, Depends, Request
from sqlmodel import select
from starlette.datastructures import FormData
from starlette.responses import Response

from admin_ui.auth import csrf_form, db_engine, sign_in
from admin_ui.templating import flash, redirect, render
from admin_ui.views.auth import safe_next
from connectors.ports.sign_in import GoogleIdentity, SignInRefused, SignInUnavailable
from engine.admin import google_sign_in as gsi
from engine.admin.queries import record_audit
from engine.runtime.wiring import google_sign_in as google_port
from engine.store.models import Tenant
from engine.store.unit_of_work import unit_of_work

router = APIRouter()
log = logging.getLogger(__name__)

#: The session-cookie key of a started sign-in (:class:`engine.admin.google_sign_in.Pending`).
PENDING_KEY = "google_sign_in"


def _problem(request: Request, exc: gsi.GoogleSignInError) -> Response:
    return render(
        request,
        "admin/auth/google_error.html",
        {"code": exc.code, "message": exc.message, "fix": exc.fix},
        status_code=exc.status,
    )


def _from_google(exc: SignInUnavailable | SignInRefused) -> gsi.GoogleSignInError:
    if isinstance(exc, SignInUnavailable):
        return gsi.GoogleSignInError(
            "unavailable", f"Google could not be reached ({exc})", "try again in a minute", status=503
        )
    return gsi.GoogleSignInError(
        exc.code,
        f"Google refused the sign-in ({exc.detail or exc.code})",
        "start again from the sign-in page",
        status=400 if exc.code != "invalid_id_token" else 403,
    )


@router.post("/login/google")
def start(request: Request, form: FormData = Depends(csrf_form)) -> Response:
    settings = request.app.state.settings
    slug = str(form.get("tenant") or "").strip().lower()
    next_url = safe_next(form.get("next"))
    if not slug:
        return render(
            request,
            "admin/auth/login.html",
            {"next": next_url, "form": {}, "error": "Fill in the workspace (tenant) to sign in with Google."},
            status_code=400,
        )
    try:
        with unit_of_work(db_engine(request)) as uow:
            tenant = uow.db.exec(select(Tenant).where(Tenant.slug == slug)).first()
            begun = gsi.begin(settings=settings, tenant=tenant, next_url=next_url, now=time.time())
        client_id, _ = gsi.client_of(settings)
        url = google_port().authorization_url(
            root_url=settings.google_root_url,
            client_id=client_id,
            redirect_uri=gsi.redirect_uri(settings),
            state=begun.pending.state,
            nonce=begun.pending.nonce,
            code_challenge=begun.code_challenge,
            hosted_domain=begun.hosted_domain,
        )
    except gsi.GoogleSignInError as exc:
        return _problem(request, exc)
    except (SignInUnavailable, SignInRefused) as exc:
        log.warning("Sign in with Google could not start: %s", exc)
        return _problem(request, _from_google(exc))
    request.session[PENDING_KEY] = begun.pending.to_cookie()
    return redirect(url)


@router.get("/login/google/callback")
def callback(request: Request, state: str = "", code: str | None = None, error: str | None = None) -> Response:
    settings = request.app.state.settings
    pending = gsi.Pending.from_cookie(request.session.pop(PENDING_KEY, None))  # one answer per start
    try:
        the_code = gsi.check_callback(pending=pending, state=state, code=code, error=error, now=time.time())
        assert pending is not None
        client_id, client_secret = gsi.client_of(settings)
        identity = google_port().redeem(
            root_url=settings.google_root_url,
            client_id=client_id,
            client_secret=client_secret,
            code=the_code,
            code_verifier=pending.verifier,
            redirect_uri=gsi.redirect_uri(settings),
        )
    except gsi.GoogleSignInError as exc:
        return _problem(request, exc)
    except (SignInUnavailable, SignInRefused) as exc:
        log.warning("Sign in with Google refused: %s", exc)
        return _problem(request, _from_google(exc))
    return _admit(request, pending, identity)


def _admit(request: Request, pending: gsi.Pending, identity: GoogleIdentity) -> Response:
    refusal: gsi.GoogleSignInError | None = None
    with unit_of_work(db_engine(request)) as uow:
        tenant = uow.db.get(Tenant, uuid.UUID(pending.tenant_id))
        if tenant is None:
            return _problem(
                request,
                gsi.GoogleSignInError(
                    "not_offered", "This workspace no longer exists", "sign in to another workspace"
                ),
            )
        try:
            gsi.check_identity(identity, pending=pending, tenant_domain=tenant.google_domain)
            person = gsi.person_for(db=uow.db, tenant_id=tenant.id, identity=identity)
        except gsi.GoogleSignInError as exc:
            refusal = exc
            record_audit(
                db=uow.db,
                tenant_id=tenant.id,
                actor=f"google:{identity.email}",
                action="auth.google_refused",
                subject=identity.email,
                detail={"reason": exc.code, "hd": identity.hosted_domain, "sub": identity.subject},
            )
        else:
            record_audit(
                db=uow.db,
                tenant_id=tenant.id,
                actor=f"user:{person.email}",
                action="auth.google_sign_in",
                subject=person.email,
                detail={"sub": identity.subject, "hd": identity.hosted_domain},
            )
            email = person.email
            sign_in(request, person, uow.db)
    if refusal is not None:
        return _problem(request, refusal)
    flash(request, f"Signed in with Google as {email}.")
    return redirect(pending.next_url)
