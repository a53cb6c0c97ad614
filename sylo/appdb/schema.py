"""Table definitions for queries. Migrations, not `create_all`, create them."""

from __future__ import annotations

from sqlalchemy import Column, DateTime, Integer, MetaData, String, Table, Text, UniqueConstraint

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
