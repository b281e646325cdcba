"""My Google connection (organizers and admins): status, last error, Connect / Reconnect Google.

Where it sits: shows the signed-in person's :class:`~engine.store.models.GoogleConnection`; "Connect Google"
sends them to Google's consent page built by :func:`engine.delegation.oauth.start_url` (the callback is served by
the engine's OAuth route). Only the signed-in person can start their own connection.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from admin_ui.auth import CurrentUser, csrf_form, db_engine, load_user, require
from admin_ui.templating import flash, redirect, render
from engine.admin.queries import CONNECTION_PROBLEMS, connection_status_of, connections_by_person, list_sessions
from engine.admin.roles import Need
from engine.delegation import oauth
from engine.runtime.wiring import google_kit, probe_kit
from engine.store.models import Person, Tenant
from engine.store.unit_of_work import unit_of_work

router = APIRouter()


@router.get("/account")
def account_page(request: Request, user: CurrentUser = Depends(require(Need.CONNECT_GOOGLE))) -> Response:
    settings = request.app.state.settings
    with unit_of_work(db_engine(request)) as uow:
        conns = connections_by_person(db=uow.db, tenant_id=user.tenant_id, person_ids=[user.person_id])
        conn = conns.get(user.person_id)
        tenant = uow.db.get(Tenant, user.tenant_id)
        person = uow.db.get(Person, user.person_id)
        assert person is not None
        status = connection_status_of(tenant, person, conn)
        if conn is not None:
            uow.db.expunge(conn)
        rows, pager = list_sessions(db=uow.db, tenant_id=user.tenant_id, host_person_id=user.person_id, page_size=10)
    return render(
        request,
        "admin/account/detail.html",
        {
            "connection": conn,
            "status": status,
            "needs_connect": status in CONNECTION_PROBLEMS,
            "mode": user.integration_mode,
            "hosted": pager.total,
            "rows": rows,
            "connect_available": bool(settings.google_oauth_client_id),
            "connect_message": None
            if settings.google_oauth_client_id
            else "Connecting Google is not configured on this server (MUSTER_GOOGLE_OAUTH_CLIENT_ID).",
        },
    )


@router.post("/account/connect")
def connect_google(
    request: Request, user: CurrentUser = Depends(require(Need.CONNECT_GOOGLE)), _form: object = Depends(csrf_form)
) -> Response:
    with unit_of_work(db_engine(request)) as uow:
        tenant = uow.db.get(Tenant, user.tenant_id)
        person = uow.db.get(Person, user.person_id)
        assert tenant is not None and person is not None
        try:
            url = oauth.start_url(
                settings=request.app.state.settings, tenant=tenant, person=person, kit=google_kit()
            )
        except oauth.OAuthError as exc:
            flash(request, str(exc), "bad")
            return redirect("/admin/account")
    return redirect(url)


#: Google sends the browser back here after consent (``engine.delegation.oauth.CALLBACK_PATH``); not under /admin.
oauth_router = APIRouter()


@oauth_router.get("/oauth/google/callback")
def google_callback(request: Request, state: str = "", code: str | None = None, error: str | None = None) -> Response:
    """Finish "Connect Google": verify the signed state, store the connection, enqueue the person's sessions.

    When someone is signed in, the state must name that same person (a link started by someone else is
    refused). Every failure is a flashed message with the fix, never a 500.
    """
    settings = request.app.state.settings
    user = load_user(request)
    try:
        _tenant_id, person_id = oauth.read_state(settings, state)
        if user is not None and user.person_id != person_id:
            raise oauth.OAuthError(
                "This Google sign-in was started by someone else",
                "click Connect Google yourself",
                code="other_person",
            )
        with unit_of_work(db_engine(request)) as uow:
            result = oauth.complete(
                uow=uow, settings=settings, state=state, code=code, error=error, kit=probe_kit(settings)
            )
    except oauth.OAuthError as exc:
        flash(request, str(exc), "bad")
        return redirect("/admin/account" if user is not None else "/admin/login")
    again = "reconnected" if result.reconnected else "connected"
    flash(
        request,
        f"Google {again} as {result.google_email}; {result.sessions_enqueued} session(s) will sync now.",
    )
    return redirect("/admin/account" if user is not None else "/admin/login")
