"""binding.writing_since / remote_held_etag: the change feed holds what it sees while Muster writes

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-01 16:40:00

NOTE: a migration must not break the *previous* version of the code, which keeps running while it is
applied: add columns nullable or with a server default, backfill, and drop in a later release.
Both columns are nullable: the previous code never sets them, and the feed treats them as absent.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("calendar_binding") as batch:
        batch.add_column(sa.Column("writing_since", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("remote_held_etag", sa.String(length=100), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("calendar_binding") as batch:
        batch.drop_column("remote_held_etag")
        batch.drop_column("writing_since")
