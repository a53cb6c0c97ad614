"""Table definitions for queries. Migrations, not `create_all`, create them."""

from __future__ import annotations

from sqlalchemy import Column, DateTime, ForeignKey, Index, Integer, MetaData, String, Table, Text, UniqueConstraint

metadata = MetaData()

users = Table(
    "users", metadata,
    Column("id", String(100), primary_key=True),
    Column("email", String(320), unique=True),
    Column("display_name", String(200)),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("password_hash", String(255)),  # scrypt, for the dashboard; null until the user sets one
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
    Column("purge_requested_at", DateTime(timezone=True)),  # the owner asked for the synced data to go
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
    Column("kinds", String(200)),  # the document kinds it may read, space-separated; NULL: every kind (sylo.read_kinds)
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

commands = Table(
    "commands", metadata,
    Column("id", String(40), primary_key=True),
    Column("user_id", String(100), ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("message_id", String(255), nullable=False),  # the signed webhook-id: accepted once per user
    Column("action", String(100), nullable=False),
    Column("params", Text, nullable=False),  # validated, re-serialised JSON: what is forwarded
    Column("source", String(20), nullable=False),  # http | mcp
    # awaiting_approval (held for the owner) | queued | delivering | delivered | running | succeeded | failed
    # | declined | expired (the owner said no, or did not answer in time)
    Column("status", String(20), nullable=False),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("next_attempt_at", DateTime(timezone=True), nullable=False),
    Column("lease_until", DateTime(timezone=True)),  # a claimed delivery; past it, another worker may retry
    Column("last_error", Text),
    Column("response_status", Integer),
    Column("result", Text),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("finished_at", DateTime(timezone=True)),
    Column("failure_cause", String(30)),  # why the last attempt failed: not_registered, auth, unreachable, ...
    Column("failing_since", DateTime(timezone=True)),  # when this run of failures of that class began
    Column("result_due_at", DateTime(timezone=True)),  # running: when it fails if n8n has not reported
    Column("decided_at", DateTime(timezone=True)),  # when the owner approved or declined it (who: the audit log)
    UniqueConstraint("user_id", "message_id", name="uq_commands_user_message"),
    Index("ix_commands_due", "status", "next_attempt_at"),
    Index("ix_commands_user_created", "user_id", "created_at"),
)

command_results = Table(
    "command_results", metadata,  # n8n's signed result reports, by webhook-id: each is accepted once
    Column("message_id", String(255), primary_key=True),
    Column("command_id", String(40), nullable=False),
    Column("received_at", DateTime(timezone=True), nullable=False, index=True),
)

delivery_health = Table(
    "delivery_health", metadata,  # the current run of n8n's answers: ok, or failures of one cause
    Column("target", String(50), primary_key=True),  # "n8n"
    Column("cause", String(30), nullable=False),  # ok | not_registered | auth | no_credential | unreachable | ...
    Column("since", DateTime(timezone=True), nullable=False),
    Column("failures", Integer, nullable=False),
    Column("last_status", Integer),
    Column("last_reason", Text),
    Column("last_ok_at", DateTime(timezone=True)),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

delivery_counts = Table(
    "delivery_counts", metadata,  # every delivery attempt, by outcome and cause, for /metrics
    Column("outcome", String(20), primary_key=True),  # delivered | running | retry | failed
    Column("cause", String(30), primary_key=True),
    Column("count", Integer, nullable=False),
)

action_policies = Table(
    "action_policies", metadata,  # the owner's choices that differ from the defaults (sylo/commands/policy.py)
    Column("user_id", String(100), ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column("action", String(100), primary_key=True),
    Column("setting", String(10), nullable=False),  # allow | ask | deny
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

audit_log = Table(
    "audit_log", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("user_id", String(100)),  # null when a refusal came before we knew who sent it
    Column("kind", String(40), nullable=False),  # command.accepted | command.refused | command.delivered | ...
    Column("outcome", String(20), nullable=False),  # ok | refused | failed | retry
    Column("command_id", String(40)),
    Column("action", String(100)),
    Column("message_id", String(255)),
    Column("source", String(20)),
    Column("detail", Text),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Index("ix_audit_log_user_id", "user_id", "id"),
)

web_sessions = Table(
    "web_sessions", metadata,
    Column("id", String(64), primary_key=True),  # SHA-256 of the cookie's token; the token is never stored
    Column("user_id", String(100), ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("csrf_token", String(64), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Column("revoked_at", DateTime(timezone=True)),
)

login_links = Table(
    "login_links", metadata,
    Column("id", String(64), primary_key=True),  # SHA-256 of the link's token
    Column("user_id", String(100), ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Column("used_at", DateTime(timezone=True)),
)

# -- OAuth 2.1 for /mcp (sylo/oauth): clients, one-time codes, the owner's grants and their tokens -----

oauth_clients = Table(
    "oauth_clients", metadata,  # registered (RFC 7591) or read from a client ID metadata document
    Column("client_id", String(1024), primary_key=True),  # ours (dcr_...) or the metadata document's https URL
    Column("kind", String(20), nullable=False),  # registered | metadata_document
    Column("client_name", String(200)),  # what the client calls itself: shown as such, never trusted
    Column("client_uri", String(1024)),
    Column("redirect_uris", Text, nullable=False),  # JSON list, each matched exactly (loopback: any port)
    Column("grant_types", Text, nullable=False),  # JSON list
    Column("token_endpoint_auth_method", String(30), nullable=False),  # none | client_secret_post | client_secret_basic
    Column("secret_hash", String(64)),  # SHA-256 hex of a confidential client's secret; the secret is never stored
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True)),  # a metadata document's cache lifetime
)

oauth_codes = Table(
    "oauth_codes", metadata,  # authorization codes: single use, 60 seconds
    Column("code_hash", String(64), primary_key=True),  # SHA-256 hex; the code itself is never stored
    Column("client_id", String(1024), nullable=False),
    Column("user_id", String(100), ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("redirect_uri", Text, nullable=False),
    Column("scope", String(200), nullable=False),
    Column("resource", String(1024), nullable=False),  # RFC 8707: the MCP endpoint the token will be good for
    Column("code_challenge", String(128), nullable=False),  # PKCE, S256 only
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False, index=True),
    Column("used_at", DateTime(timezone=True)),
    Column("grant_id", String(40)),  # the grant its exchange created: revoked if the code is presented again
    Column("kinds", String(200)),  # the document kinds the owner allowed; NULL: every kind (sylo.read_kinds)
)

oauth_grants = Table(
    "oauth_grants", metadata,  # one per approved authorization: what the owner sees and revokes on Agent setup
    Column("id", String(40), primary_key=True),
    Column("user_id", String(100), ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("client_id", String(1024), nullable=False),
    Column("client_name", String(200)),  # as shown on the consent page
    Column("redirect_uri", Text, nullable=False),  # where the owner saw the code go
    Column("scope", String(200), nullable=False),  # what the owner allowed: context:read, commands:write
    Column("resource", String(1024), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("last_used_at", DateTime(timezone=True)),
    Column("revoked_at", DateTime(timezone=True)),
    Column("revoked_by", String(20)),  # owner | client | reuse (a spent code or refresh token came back)
    Column("kinds", String(200)),  # the document kinds the owner allowed; NULL: every kind (sylo.read_kinds)
)

oauth_tokens = Table(
    "oauth_tokens", metadata,  # access and refresh tokens of a grant, by hash
    Column("token_hash", String(64), primary_key=True),  # SHA-256 hex; the token itself is never stored
    Column("grant_id", String(40), ForeignKey("oauth_grants.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("kind", String(10), nullable=False),  # access | refresh
    Column("scope", String(200), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False, index=True),
    Column("used_at", DateTime(timezone=True)),  # a refresh token, once exchanged (rotation: it never works again)
    Column("revoked_at", DateTime(timezone=True)),
)
