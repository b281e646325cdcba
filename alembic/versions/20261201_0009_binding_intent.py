"""calendar_binding.intent_*: the write-ahead intent of a session's next first write to a calendar

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01 11:00:00

Nullable columns only, so the previous version of the code keeps running while it is applied.
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("calendar_binding", schema=None) as batch_op:
        batch_op.add_column(sa.Column("intent_calendar_id", sqlmodel.sql.sqltypes.AutoString(length=320), nullable=True))
        batch_op.add_column(sa.Column("intent_event_id", sqlmodel.sql.sqltypes.AutoString(length=1024), nullable=True))
        batch_op.add_column(sa.Column("intent_owner_email", sqlmodel.sql.sqltypes.AutoString(length=320), nullable=True))
        batch_op.add_column(sa.Column("intent_actor_kind", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True))
        batch_op.add_column(sa.Column("intent_connection_id", sa.Uuid(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("calendar_binding", schema=None) as batch_op:
        for name in ("intent_connection_id", "intent_actor_kind", "intent_owner_email", "intent_event_id",
                     "intent_calendar_id"):
            batch_op.drop_column(name)
