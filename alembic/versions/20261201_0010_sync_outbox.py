"""sync outbox

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01 10:30:00

NOTE: a migration must not break the *previous* version of the code, which keeps running while it is
applied: add columns nullable or with a server default, backfill, and drop in a later release.
A new table is invisible to the previous code.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "sync_outbox",
        sa.Column("session_id", sa.Uuid(), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("sends", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["session_id"], ["live_session.id"]),
        sa.PrimaryKeyConstraint("session_id"),
    )
    with op.batch_alter_table("sync_outbox", schema=None) as batch_op:
        batch_op.create_index("ix_sync_outbox_sent_at", ["sent_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("sync_outbox", schema=None) as batch_op:
        batch_op.drop_index("ix_sync_outbox_sent_at")
    op.drop_table("sync_outbox")
