"""Admin-side roles: the one place that says who may see and do what in the admin UI.

Where it sits: below the admin UI (:mod:`admin_ui.auth` builds the signed-in user from
:attr:`engine.store.models.Person.admin_role` and asks :func:`grants_of`), the CLI
(``muster user set-password --role``) and people management. A person's admin-side role is exactly what
an admin granted, stored in ``Person.admin_role``: ``admin``, ``organizer`` or ``viewer`` (or nothing:
no admin UI at all). Hosting a session never grants a role; ``Person.roles`` only describes what someone
does on the platform (hosts, learns) and is never read to decide access.

===========  ================  ====================  ===================  =================  ==============
role         sessions: read    sessions: write       tenant pages: read   tenant: change     own Google
===========  ================  ====================  ===================  =================  ==============
admin        all               all                   yes                  yes                yes
organizer    those they host   those they host       no                   no                 yes
viewer       all               none                  yes                  no                 no
===========  ================  ====================  ===================  =================  ==============

"Tenant pages" are Integration, Organizers, Health and the Audit log.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class AdminRole(enum.StrEnum):
    ADMIN = "admin"
    ORGANIZER = "organizer"
    VIEWER = "viewer"


#: The values ``Person.admin_role`` may hold (besides None), in the order forms offer them.
ADMIN_ROLES: tuple[str, ...] = tuple(r.value for r in AdminRole)


class Scope(enum.StrEnum):
    ALL = "all"  #: every session of the tenant
    OWN = "own"  #: only sessions the person hosts (organizer, co-host or presenter)
    NONE = "none"


@dataclass(frozen=True)
class Grants:
    """What one role allows. Read by the admin UI's dependencies and views; nothing else decides."""

    read_sessions: Scope
    write_sessions: Scope
    read_tenant: bool  #: Integration, Organizers, Health, Audit log
    manage_tenant: bool  #: change the integration, policies, mode switch, people
    connect_google: bool  #: "My Google": connect their own account (OAuth)


GRANTS: dict[AdminRole, Grants] = {
    AdminRole.ADMIN: Grants(Scope.ALL, Scope.ALL, read_tenant=True, manage_tenant=True, connect_google=True),
    AdminRole.ORGANIZER: Grants(Scope.OWN, Scope.OWN, read_tenant=False, manage_tenant=False, connect_google=True),
    AdminRole.VIEWER: Grants(Scope.ALL, Scope.NONE, read_tenant=True, manage_tenant=False, connect_google=False),
}


def parse_role(value: str | None) -> AdminRole | None:
    """The role stored in ``Person.admin_role``, or None when it is empty or not a known role."""
    try:
        return AdminRole(value) if value else None
    except ValueError:
        return None


def grants_of(role: str | AdminRole | None) -> Grants | None:
    """The grants of ``role``; None when the person has no admin-side role (they cannot sign in)."""
    parsed = role if isinstance(role, AdminRole) else parse_role(role)
    return GRANTS[parsed] if parsed is not None else None


class Need(enum.StrEnum):
    """What a page or action needs; each admin view declares one (``admin_ui.auth.require``)."""

    READ_SESSIONS = "read_sessions"
    WRITE_SESSIONS = "write_sessions"
    READ_TENANT = "read_tenant"
    MANAGE_TENANT = "manage_tenant"
    CONNECT_GOOGLE = "connect_google"


def allows(role: str | AdminRole | None, need: Need) -> bool:
    """True when ``role`` grants ``need`` (for the session needs: at least their own sessions)."""
    grants = grants_of(role)
    if grants is None:
        return False
    value = getattr(grants, need.value)
    return value is not Scope.NONE if isinstance(value, Scope) else bool(value)
