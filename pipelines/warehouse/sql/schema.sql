-- The raw replica: one row per provider record per user, soft-deleted by `_deleted_at`.
-- Types are the subset DuckDB and Postgres share.

-- name: create_raw_schema
CREATE SCHEMA IF NOT EXISTS raw;

CREATE TABLE IF NOT EXISTS raw.gmail_messages (
    user_id       VARCHAR NOT NULL,
    id            VARCHAR NOT NULL,
    thread_id     VARCHAR NOT NULL,
    history_id    BIGINT NOT NULL,
    internal_date TIMESTAMPTZ NOT NULL,
    subject       VARCHAR,
    from_header   VARCHAR,
    from_email    VARCHAR,
    to_header     VARCHAR,
    to_emails     VARCHAR,          -- comma-separated addresses, lower-cased
    date_header   VARCHAR,
    snippet       VARCHAR,
    label_ids     VARCHAR NOT NULL, -- JSON array
    is_unread     BOOLEAN NOT NULL,
    is_sent       BOOLEAN NOT NULL,
    in_inbox      BOOLEAN NOT NULL,
    _hash         VARCHAR NOT NULL,
    _synced_at    TIMESTAMPTZ NOT NULL,
    _deleted_at   TIMESTAMPTZ,
    PRIMARY KEY (user_id, id)
);

CREATE TABLE IF NOT EXISTS raw.asana_projects (
    user_id       VARCHAR NOT NULL,
    id            VARCHAR NOT NULL,
    workspace_id  VARCHAR NOT NULL,
    name          VARCHAR NOT NULL,
    archived      BOOLEAN NOT NULL,
    notes         VARCHAR,
    owner_name    VARCHAR,
    start_on      DATE,
    due_on        DATE,
    created_at    TIMESTAMPTZ,
    modified_at   TIMESTAMPTZ,
    permalink_url VARCHAR,
    _hash         VARCHAR NOT NULL,
    _synced_at    TIMESTAMPTZ NOT NULL,
    _deleted_at   TIMESTAMPTZ,
    PRIMARY KEY (user_id, id)
);

CREATE TABLE IF NOT EXISTS raw.asana_tasks (
    user_id       VARCHAR NOT NULL,
    id            VARCHAR NOT NULL,
    project_id    VARCHAR NOT NULL,
    name          VARCHAR NOT NULL,
    section_name  VARCHAR,
    assignee_id   VARCHAR,
    assignee_name VARCHAR,
    completed     BOOLEAN NOT NULL,
    completed_at  TIMESTAMPTZ,
    due_on        DATE,
    created_at    TIMESTAMPTZ,
    modified_at   TIMESTAMPTZ NOT NULL,
    permalink_url VARCHAR,
    _hash         VARCHAR NOT NULL,
    _synced_at    TIMESTAMPTZ NOT NULL,
    _deleted_at   TIMESTAMPTZ,
    PRIMARY KEY (user_id, id)
);

CREATE TABLE IF NOT EXISTS raw.xero_contacts (
    user_id       VARCHAR NOT NULL,
    id            VARCHAR NOT NULL,
    name          VARCHAR NOT NULL,
    first_name    VARCHAR,
    last_name     VARCHAR,
    email         VARCHAR,
    email_domain  VARCHAR,
    status        VARCHAR NOT NULL,
    is_customer   BOOLEAN,
    is_supplier   BOOLEAN,
    updated_at    TIMESTAMPTZ NOT NULL,
    _hash         VARCHAR NOT NULL,
    _synced_at    TIMESTAMPTZ NOT NULL,
    _deleted_at   TIMESTAMPTZ,
    PRIMARY KEY (user_id, id)
);

CREATE TABLE IF NOT EXISTS raw.xero_invoices (
    user_id         VARCHAR NOT NULL,
    id              VARCHAR NOT NULL,
    invoice_number  VARCHAR,
    type            VARCHAR NOT NULL,
    status          VARCHAR NOT NULL,
    contact_id      VARCHAR,
    contact_name    VARCHAR,
    reference       VARCHAR,
    issued_on       DATE,
    due_on          DATE,
    currency        VARCHAR,
    subtotal        DECIMAL(18, 2),
    total_tax       DECIMAL(18, 2),
    total           DECIMAL(18, 2),
    amount_due      DECIMAL(18, 2),
    amount_paid     DECIMAL(18, 2),
    amount_credited DECIMAL(18, 2),
    fully_paid_on   DATE,
    sent_to_contact BOOLEAN,
    updated_at      TIMESTAMPTZ NOT NULL,
    _hash           VARCHAR NOT NULL,
    _synced_at      TIMESTAMPTZ NOT NULL,
    _deleted_at     TIMESTAMPTZ,
    PRIMARY KEY (user_id, id)
);

-- One row per (user, service, stream): the cursor (JSON text) is written in the same
-- transaction as the rows it covers.
CREATE TABLE IF NOT EXISTS raw.sync_state (
    user_id           VARCHAR NOT NULL,
    service           VARCHAR NOT NULL,
    stream            VARCHAR NOT NULL,
    cursor            VARCHAR,
    last_success_at   TIMESTAMPTZ,
    last_full_sync_at TIMESTAMPTZ,
    blocked_until     TIMESTAMPTZ,
    last_error        VARCHAR,
    updated_at        TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (user_id, service, stream)
);
