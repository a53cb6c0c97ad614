"""What an agent may read: the document kinds of each API token, OAuth grant and the code that makes
one. NULL means every kind, so existing tokens and grants keep reading everything.

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"

TABLES = ("api_tokens", "oauth_grants", "oauth_codes")


def upgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("kinds", sa.String(200), nullable=True))


def downgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table) as batch:
            batch.drop_column("kinds")
