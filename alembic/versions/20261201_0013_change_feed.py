"""change feed: feed_calendar (sync token + push channel per calendar), binding.remote_etag/remote_seen_at

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-01 13:20:00

NOTE: a migration must not break the *previous* version of the code, which keeps running while it is
applied: add columns nullable or with a server default, backfill, and drop in a later release.
A new table is invisible to the previous code.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "feed_calendar",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("calendar_id", sa.String(length=320), nullable=False),
        sa.Column("actor_kind", sa.String(length=16), nullable=False),
        sa.Column("actor_email", sa.String(length=320), nullable=False),
        sa.Column("actor_connection_id", sa.Uuid(), nullable=True),
        sa.Column("tenant_id", sa.Uuid(), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("sync_token", sa.Text(), nullable=True),
        sa.Column("synced_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("full_synced_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("error_class", sa.String(length=16), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("channel_id", sa.String(length=64), nullable=True),
        sa.Column("channel_resource_id", sa.String(length=200), nullable=True),
        sa.Column("channel_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenant.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("calendar_id"),
    )
    with op.batch_alter_table("calendar_binding", schema=None) as batch_op:
        batch_op.add_column(sa.Column("remote_etag", sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column("remote_seen_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("calendar_binding", schema=None) as batch_op:
        batch_op.drop_column("remote_seen_at")
        batch_op.drop_column("remote_etag")
    op.drop_table("feed_calendar")
