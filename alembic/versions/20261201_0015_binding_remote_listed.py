"""binding.remote_listed: the changed event as the change feed listed it, for the repair to plan against

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-01 19:45:00

NOTE: a migration must not break the *previous* version of the code, which keeps running while it is
applied: add columns nullable or with a server default, backfill, and drop in a later release.
The column is nullable: the previous code never sets it, and a reconcile without it reads the event.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("calendar_binding") as batch:
        batch.add_column(sa.Column("remote_listed", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("calendar_binding") as batch:
        batch.drop_column("remote_listed")
