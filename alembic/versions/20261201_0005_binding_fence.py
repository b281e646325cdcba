"""calendar_binding.fence: the fencing token of the session lease that last wrote the binding

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 10:40:00

Added with a server default (0), so the previous version of the code keeps running while it is applied.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("calendar_binding", schema=None) as batch_op:
        batch_op.add_column(sa.Column("fence", sa.BigInteger(), server_default="0", nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("calendar_binding", schema=None) as batch_op:
        batch_op.drop_column("fence")
