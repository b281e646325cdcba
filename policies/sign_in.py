"""Sign-in policy: how the people of a tenant sign in to the admin UI.

Where it sits: pure policy-as-data, read by the admin UI's sign-in views (:mod:`admin_ui.views.auth` for
passwords and one-time sign-in links, :mod:`admin_ui.views.google_sign_in` for Google) through
:func:`engine.admin.google_sign_in.sign_in_policy`. Imports nothing from the project but
:mod:`policies.schema`. Tenant setting (``Tenant.settings["sign_in"]``), declared once by
:class:`SignInSettings`::

    {"passwords": true, "google": true}   # default: both (Google only where the tenant has a domain)

At least one stays on: a tenant with neither could not be signed in to at all.
"""

from __future__ import annotations

from typing import ClassVar, Self

from pydantic import Field, model_validator

from policies.schema import SettingsSection


class SignInSettings(SettingsSection):
    """``Tenant.settings["sign_in"]``."""

    section: ClassVar[str] = "sign_in"
    not_object: ClassVar[str] = 'must be an object like {"passwords": true, "google": true}'

    passwords: bool = Field(
        default=True,
        description="People may sign in with a password (and set one from a one-time sign-in link). Off: "
        "Sign in with Google only, which needs the tenant's Google Workspace domain.",
    )
    google: bool = Field(
        default=True,
        description="People of the tenant's Google Workspace domain may use Sign in with Google (when the server "
        "has an OAuth client, MUSTER_GOOGLE_OAUTH_CLIENT_ID).",
    )

    @model_validator(mode="after")
    def _one_way_in(self) -> Self:
        if not self.passwords and not self.google:
            raise ValueError("passwords and google cannot both be off: nobody could sign in")
        return self
