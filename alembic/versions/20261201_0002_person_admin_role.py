"""person.admin_role: the admin-side role an admin granted, apart from what a person does on the platform

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01 10:30:00

Backfill: before this column, ``person.roles`` mixed granted roles with the ``organizer`` role that
hosting a session added. Each person who could sign in gets the least powerful reading of what they
held: ``admin`` if granted, else ``viewer`` if granted (a viewer made co-host stays a viewer), else
``organizer`` for people with a password (an organizer account someone set up). Everyone else gets none.

NOTE: a migration must not break the *previous* version of the code, which keeps running while it is
applied: add columns nullable or with a server default, backfill, and drop in a later release.
"""

import json
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _granted(roles: list[str], has_password: bool) -> str | None:
    if "admin" in roles:
        return "admin"
    if "viewer" in roles:
        return "viewer"
    if "organizer" in roles and has_password:
        return "organizer"
    return None


def upgrade() -> None:
    with op.batch_alter_table("person", schema=None) as batch_op:
        batch_op.add_column(sa.Column("admin_role", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True))
    conn = op.get_bind()
    person = sa.table(
        "person",
        sa.column("id", sa.Uuid()),
        sa.column("roles", sa.JSON()),
        sa.column("password_hash", sa.String()),
        sa.column("admin_role", sa.String()),
    )
    rows = conn.execute(sa.select(person.c.id, person.c.roles, person.c.password_hash)).all()
    for row in rows:
        roles = row.roles if isinstance(row.roles, list) else json.loads(row.roles or "[]")
        role = _granted([str(r) for r in roles], bool(row.password_hash))
        if role is not None:
            conn.execute(sa.update(person).where(person.c.id == row.id).values(admin_role=role))


def downgrade() -> None:
    with op.batch_alter_table("person", schema=None) as batch_op:
        batch_op.drop_column("admin_role")
