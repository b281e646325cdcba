"""Sign in with Google for the admin UI: who started it (state, nonce, PKCE), and who may come in.

Where it sits: between the admin UI's sign-in views (:mod:`admin_ui.views.auth`, which keep the
:class:`Pending` sign-in in the signed session cookie and call the port) and the Google connector
(:class:`connectors.ports.sign_in.GoogleSignIn`: the consent URL, the code exchange and google-auth's
verification of the ID token's signature, issuer, audience and expiry). Decisions are pure functions over
values; :func:`person_for` reads the database with the caller's ``db`` and never commits.

The flow:

1. :func:`begin` makes a random ``state``, ``nonce`` and PKCE verifier for a tenant that has a Google
   Workspace domain (``Tenant.google_domain``) when the server has an OAuth client
   (``MUSTER_GOOGLE_OAUTH_CLIENT_ID``/``_SECRET``); the browser goes to Google with ``hd`` = that domain.
2. Google sends the browser to ``{MUSTER_BASE_URL}/admin/login/google/callback``. :func:`check_callback`
   refuses an answer whose ``state`` is not the one this browser's cookie holds, one older than
   :data:`PENDING_MAX_AGE_S`, and Google's own errors, before the code is spent.
3. The connector redeems the code with the verifier and verifies the ID token; :func:`check_identity`
   then requires the ``nonce`` sent in step 1, ``email_verified``, and ``hd`` equal to the tenant's domain
   (the claim, not the hint: anyone can remove ``hd`` from the consent URL).
4. :func:`person_for` matches the verified email to a person of that tenant who holds an admin-side role
   an admin granted (:mod:`engine.admin.roles`) and is active; the Google account id (``sub``) is kept on
   the person, and a later sign-in from another Google account with the same address is refused.

Each refusal is a :class:`GoogleSignInError` with a code, a sentence for the person and the fix.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import secrets
import uuid
from dataclasses import asdict, dataclass
from typing import Any

from sqlmodel import Session, select

from connectors.ports.sign_in import GoogleIdentity
from engine.admin.roles import grants_of
from engine.settings import Settings
from engine.store.models import Person, PersonStatus, Tenant
from policies.schema import SettingError
from policies.sign_in import SignInSettings

log = logging.getLogger(__name__)

CALLBACK_PATH = "/admin/login/google/callback"
#: How long a started Google sign-in may take before its answer is refused.
PENDING_MAX_AGE_S = 10 * 60


class GoogleSignInError(Exception):
    """A Google sign-in cannot finish. ``message`` is for the person; ``fix`` what they can do."""

    def __init__(self, code: str, message: str, fix: str, *, status: int = 400) -> None:
        self.code = code
        self.message = message
        self.fix = fix
        self.status = status
        super().__init__(f"{code}: {message}")


@dataclass(frozen=True)
class Pending:
    """A started sign-in, kept in the browser's signed session cookie until Google answers."""

    state: str
    nonce: str
    verifier: str
    tenant_id: str
    next_url: str
    started_at: float  #: UNIX seconds

    def to_cookie(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_cookie(cls, raw: object) -> Pending | None:
        if not isinstance(raw, dict):
            return None
        try:
            return cls(
                state=str(raw["state"]),
                nonce=str(raw["nonce"]),
                verifier=str(raw["verifier"]),
                tenant_id=str(raw["tenant_id"]),
                next_url=str(raw["next_url"]),
                started_at=float(raw["started_at"]),
            )
        except (KeyError, TypeError, ValueError):
            return None


@dataclass(frozen=True)
class Start:
    pending: Pending
    code_challenge: str
    hosted_domain: str


def redirect_uri(settings: Settings) -> str:
    return settings.base_url.rstrip("/") + CALLBACK_PATH


def client_of(settings: Settings) -> tuple[str, str]:
    """The server's OAuth client, or :class:`GoogleSignInError` saying which settings to set."""
    if not settings.google_oauth_client_id or not settings.google_oauth_client_secret:
        raise GoogleSignInError(
            "not_configured",
            "Sign in with Google is not configured on this server",
            "sign in with your password, or ask the operator to set MUSTER_GOOGLE_OAUTH_CLIENT_ID and "
            "MUSTER_GOOGLE_OAUTH_CLIENT_SECRET",
            status=503,
        )
    return settings.google_oauth_client_id, settings.google_oauth_client_secret


def pkce_challenge(verifier: str) -> str:
    """RFC 7636 ``S256``: base64url(sha256(verifier)) without padding."""
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


def sign_in_policy(tenant: Tenant | None) -> SignInSettings:
    """How ``tenant``'s people may sign in (``Tenant.settings["sign_in"]``, :mod:`policies.sign_in`). A stored
    value the schema refuses is logged and read as the defaults, so that nobody is locked out by it."""
    raw = (tenant.settings or {}).get(SignInSettings.section) if tenant is not None else None
    try:
        return SignInSettings.parse(raw)
    except SettingError as exc:
        log.warning("tenant %s: stored setting %s refused (%s); signing in with the defaults",
                    tenant.slug if tenant else "?", exc.field, exc.message)
        return SignInSettings()


#: What a password sign-in (or a one-time sign-in link) is told in a tenant that signs in with Google only.
GOOGLE_ONLY = "This workspace signs in with Google only: use Sign in with Google"


def begin(*, settings: Settings, tenant: Tenant | None, next_url: str, now: float) -> Start:
    """Start a sign-in for ``tenant`` (None: no tenant by that name, refused like one without a domain)."""
    client_of(settings)
    if tenant is None or not tenant.google_domain or not sign_in_policy(tenant).google:
        raise GoogleSignInError(
            "not_offered",
            "Sign in with Google is not available for this workspace",
            "check the workspace name, or sign in with your password",
        )
    verifier = secrets.token_urlsafe(48)  # 64 characters: within PKCE's 43-128
    pending = Pending(
        state=secrets.token_urlsafe(32),
        nonce=secrets.token_urlsafe(32),
        verifier=verifier,
        tenant_id=str(tenant.id),
        next_url=next_url,
        started_at=now,
    )
    return Start(pending, pkce_challenge(verifier), tenant.google_domain.lower())


def check_callback(*, pending: Pending | None, state: str, code: str | None, error: str | None, now: float) -> str:
    """The code to redeem, once the answer is known to belong to this browser's sign-in (pure)."""
    if pending is None:
        raise GoogleSignInError(
            "no_pending",
            "This answer from Google does not belong to a sign-in started in this browser",
            "start again from the sign-in page (cookies must be allowed for this site)",
        )
    if not state or not hmac.compare_digest(state.encode(), pending.state.encode()):
        raise GoogleSignInError(
            "state_mismatch",
            "This answer from Google does not match the sign-in this browser started",
            "start again from the sign-in page",
        )
    if now - pending.started_at > PENDING_MAX_AGE_S:
        raise GoogleSignInError(
            "expired", "The Google sign-in took too long", "start again from the sign-in page"
        )
    if error:
        if error == "access_denied":
            raise GoogleSignInError(
                "access_denied", "You cancelled the sign-in at Google", "start again and choose Allow"
            )
        raise GoogleSignInError(
            error, f"Google did not sign you in ({error})", "start again; if it keeps failing, ask your admin"
        )
    if not code:
        raise GoogleSignInError(
            "missing_code", "Google's answer has no authorization code", "start again from the sign-in page"
        )
    return code


def check_identity(identity: GoogleIdentity, *, pending: Pending, tenant_domain: str | None) -> None:
    """The ID token's claims that the engine checks (google-auth checked signature, iss, aud and exp)."""
    if identity.nonce is None or not hmac.compare_digest(identity.nonce.encode(), pending.nonce.encode()):
        raise GoogleSignInError(
            "nonce_mismatch",
            "Google's ID token was not issued for this sign-in (its nonce does not match)",
            "start again from the sign-in page",
        )
    if not identity.email_verified:
        raise GoogleSignInError(
            "email_unverified",
            f"Google has not verified the address {identity.email}",
            "verify it with Google first, or sign in with your password",
            status=403,
        )
    domain = (tenant_domain or "").lower()
    if not domain or identity.hosted_domain != domain:
        which = (
            f"the Google Workspace domain {identity.hosted_domain}"
            if identity.hosted_domain
            else "a personal Google account (no Workspace domain)"
        )
        raise GoogleSignInError(
            "wrong_domain",
            f"You signed in to Google with {identity.email}, {which}; this workspace signs in with "
            f"{domain or 'no Google domain'} accounts only",
            f"sign in again and choose your {domain} account" if domain else "sign in with your password",
            status=403,
        )


def person_for(*, db: Session, tenant_id: uuid.UUID, identity: GoogleIdentity) -> Person:
    """The person of the tenant this Google account signs in as, or :class:`GoogleSignInError`."""
    person = db.exec(
        select(Person).where(Person.tenant_id == tenant_id, Person.email == identity.email.lower())
    ).first()
    refused = GoogleSignInError(
        "no_access",
        f"{identity.email} has no access to this workspace's admin pages",
        "ask an administrator to grant you a role (admin, organizer or viewer)",
        status=403,
    )
    if person is None or grants_of(person.admin_role) is None:
        raise refused
    if person.status not in (PersonStatus.ACTIVE.value, PersonStatus.LEAVING.value):
        raise GoogleSignInError(
            "inactive", f"{identity.email} is deactivated in this workspace", "ask an administrator", status=403
        )
    if person.google_user_id and person.google_user_id != identity.subject:
        raise GoogleSignInError(
            "other_account",
            f"This Google account is not the one {identity.email} signed in with before",
            "ask an administrator: the address may have been given to a new Google account",
            status=403,
        )
    if not person.google_user_id:
        person.google_user_id = identity.subject
        db.add(person)
    return person
