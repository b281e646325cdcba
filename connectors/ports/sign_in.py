"""Port for Sign in with Google (OpenID Connect): the consent URL and the verified identity, as a Protocol.

Where it sits: ``connectors`` (bottom layer), beside :mod:`connectors.ports.delegation`. The admin UI's
Google sign-in (:mod:`engine.admin.google_sign_in` decides, :mod:`admin_ui.views.auth` serves) depends only
on these types; :mod:`connectors.google.sign_in` implements :class:`GoogleSignIn` with google-auth, and the
composition root hands it out (:func:`engine.runtime.wiring.google_sign_in`).

Errors are classified here once: :class:`SignInUnavailable` (Google could not be reached: try again) and
:class:`SignInRefused` (Google refused the code, or the ID token failed verification: ``code`` says which).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol


class SignInUnavailable(Exception):
    """Google's discovery document, token endpoint or certificates could not be reached (or answered 5xx)."""


class SignInRefused(Exception):
    """Google refused the sign-in, or its answer did not verify. ``code``: Google's error code
    (``invalid_grant`` ...) or ``invalid_id_token`` / ``no_id_token`` / ``bad_discovery``."""

    def __init__(self, code: str, detail: str) -> None:
        self.code = code
        self.detail = detail
        super().__init__(f"{code}: {detail}" if detail else code)


@dataclass(frozen=True)
class GoogleIdentity:
    """The claims of an ID token whose signature, issuer, audience and expiry google-auth verified."""

    subject: str  #: ``sub``: Google's stable account id
    email: str  #: lower-cased
    email_verified: bool
    hosted_domain: str | None  #: ``hd``: the Workspace domain (None for a consumer account)
    nonce: str | None
    name: str | None = None
    claims: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)


class GoogleSignIn(Protocol):
    def authorization_url(
        self,
        *,
        root_url: str | None,
        client_id: str,
        redirect_uri: str,
        state: str,
        nonce: str,
        code_challenge: str,
        hosted_domain: str | None,
        login_hint: str | None = None,
    ) -> str:
        """Google's consent URL for ``openid email profile`` with PKCE (``S256``)."""
        ...

    def redeem(
        self,
        *,
        root_url: str | None,
        client_id: str,
        client_secret: str,
        code: str,
        code_verifier: str,
        redirect_uri: str,
    ) -> GoogleIdentity:
        """Exchange ``code`` at the token endpoint and verify the ID token (signature, ``iss``, ``aud``,
        ``exp``); the caller checks ``nonce``, ``email_verified`` and ``hd``."""
        ...
