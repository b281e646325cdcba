"""api_key.kind, person_id, expires_at: admin tokens and one-time sign-in links beside ingest keys

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01 10:45:00

NOTE: a migration must not break the *previous* version of the code, which keeps running while it is
applied: add columns nullable or with a server default, backfill, and drop in a later release. Every
existing key is an ingest key (the server default).
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("api_key", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=16), server_default="ingest", nullable=False)
        )
        batch_op.add_column(sa.Column("person_id", sa.Uuid(), nullable=True))
        batch_op.add_column(sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index(batch_op.f("ix_api_key_person_id"), ["person_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("api_key", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_api_key_person_id"))
        batch_op.drop_column("expires_at")
        batch_op.drop_column("person_id")
        batch_op.drop_column("kind")
