"""Table definitions for queries. Migrations, not `create_all`, create them."""

from __future__ import annotations

from sqlalchemy import Column, DateTime, ForeignKey, Integer, MetaData, String, Table, Text, UniqueConstraint

metadata = MetaData()

users = Table(
    "users", metadata,
    Column("id", String(100), primary_key=True),
    Column("email", String(320), unique=True),
    Column("display_name", String(200)),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

connections = Table(
    "connections", metadata,
    Column("user_id", String(100), nullable=False, index=True),
    Column("integration", String(50), primary_key=True),
    Column("connection_id", String(255), primary_key=True),
    Column("status", String(30), nullable=False),  # connected | needs_reauth | disconnected
    Column("last_error", Text),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

connection_events = Table(
    "connection_events", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("user_id", String(100), nullable=False),
    Column("integration", String(50), nullable=False),
    Column("connection_id", String(255), nullable=False),
    Column("kind", String(30), nullable=False),  # connected | reconnected | needs_reauth | disconnected
    Column("source", String(30), nullable=False),  # webhook | reconcile | dashboard
    Column("dedupe_key", String(255)),
    Column("created_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("dedupe_key", name="uq_connection_events_dedupe_key"),
)

api_tokens = Table(
    "api_tokens", metadata,
    Column("id", String(32), primary_key=True),
    Column("user_id", String(100), ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("token_hash", String(64), nullable=False),  # SHA-256 hex; the token itself is never stored
    Column("label", String(200)),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("last_used_at", DateTime(timezone=True)),
    Column("revoked_at", DateTime(timezone=True)),
    UniqueConstraint("token_hash", name="uq_api_tokens_token_hash"),
)

signing_secrets = Table(
    "signing_secrets", metadata,
    Column("id", String(32), primary_key=True),
    Column("user_id", String(100), ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("ciphertext", Text, nullable=False),  # sylo.keyring format, AAD bound to user and row id
    Column("key_id", String(32), nullable=False, index=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True)),  # set when rotated out: the grace period's end
    Column("revoked_at", DateTime(timezone=True)),
)
