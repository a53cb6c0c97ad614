"""Asynchronous command results and delivery health: why a command's attempts fail and since when,
when a running command's result is due, n8n's result reports (accepted once each), the current run
of n8n's answers, and delivery counts by outcome.

Revision ID: 0006
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0004"


def upgrade() -> None:
    with op.batch_alter_table("commands") as batch:
        batch.add_column(sa.Column("failure_cause", sa.String(30)))
        batch.add_column(sa.Column("failing_since", sa.DateTime(timezone=True)))
        batch.add_column(sa.Column("result_due_at", sa.DateTime(timezone=True)))
    op.create_table(
        "command_results",
        sa.Column("message_id", sa.String(255), primary_key=True),
        sa.Column("command_id", sa.String(40), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_command_results_received_at", "command_results", ["received_at"])
    op.create_table(
        "delivery_health",
        sa.Column("target", sa.String(50), primary_key=True),
        sa.Column("cause", sa.String(30), nullable=False),
        sa.Column("since", sa.DateTime(timezone=True), nullable=False),
        sa.Column("failures", sa.Integer, nullable=False),
        sa.Column("last_status", sa.Integer),
        sa.Column("last_reason", sa.Text),
        sa.Column("last_ok_at", sa.DateTime(timezone=True)),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "delivery_counts",
        sa.Column("outcome", sa.String(20), primary_key=True),
        sa.Column("cause", sa.String(30), primary_key=True),
        sa.Column("count", sa.Integer, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("delivery_counts")
    op.drop_table("delivery_health")
    op.drop_table("command_results")
    with op.batch_alter_table("commands") as batch:
        batch.drop_column("result_due_at")
        batch.drop_column("failing_since")
        batch.drop_column("failure_cause")
