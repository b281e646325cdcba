"""live_session.platform_url: the platform's own page for a session (the session PUT's ``url``)

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01 10:30:00

NOTE: a migration must not break the *previous* version of the code, which keeps running while it is
applied: add columns nullable or with a server default, backfill, and drop in a later release.
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("live_session", schema=None) as batch_op:
        batch_op.add_column(sa.Column("platform_url", sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("live_session", schema=None) as batch_op:
        batch_op.drop_column("platform_url")
