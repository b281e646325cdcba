"""live_session.platform_owned: the learning platform has written this session through the REST API

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 11:00:00

Backfilled from the audit log: a session the platform's API key created or updated is platform-owned.

NOTE: a migration must not break the *previous* version of the code, which keeps running while it is
applied: add columns nullable or with a server default, backfill, and drop in a later release.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("live_session", schema=None) as batch_op:
        batch_op.add_column(sa.Column("platform_owned", sa.Boolean(), nullable=False, server_default=sa.false()))
    op.execute(
        "UPDATE live_session SET platform_owned = true WHERE id IN (SELECT session_id FROM audit_event "
        "WHERE actor LIKE 'api-key:%' AND action IN ('session.create', 'session.update') "
        "AND session_id IS NOT NULL)"
    )


def downgrade() -> None:
    with op.batch_alter_table("live_session", schema=None) as batch_op:
        batch_op.drop_column("platform_owned")
