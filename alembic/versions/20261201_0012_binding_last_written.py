"""binding: the event as last written, the platform's fields as last synced, the changed-in-Google mark

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-01 13:30:00

NOTE: a migration must not break the *previous* version of the code, which keeps running while it is
applied: add columns nullable or with a server default, backfill, and drop in a later release.
A new table is invisible to the previous code.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("calendar_binding", schema=None) as batch_op:
        batch_op.add_column(sa.Column("last_written", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("platform_state", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("remote_changed_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("calendar_binding", schema=None) as batch_op:
        batch_op.drop_column("remote_changed_at")
        batch_op.drop_column("platform_state")
        batch_op.drop_column("last_written")
