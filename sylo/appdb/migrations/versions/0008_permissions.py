"""Permissions: the owner's per-action choices (allow, ask, deny) where they differ from the defaults,
and when the owner approved or declined a command held for approval.

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"


def upgrade() -> None:
    op.create_table(
        "action_policies",
        sa.Column("user_id", sa.String(100), sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("action", sa.String(100), primary_key=True),
        sa.Column("setting", sa.String(10), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    with op.batch_alter_table("commands") as batch:
        batch.add_column(sa.Column("decided_at", sa.DateTime(timezone=True)))


def downgrade() -> None:
    with op.batch_alter_table("commands") as batch:
        batch.drop_column("decided_at")
    op.drop_table("action_policies")
