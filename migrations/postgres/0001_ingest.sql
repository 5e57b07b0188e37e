-- Ingest: the three feeds of SPEC §2, their change history, per-source state and quarantine.
-- Column names of cases/referrals/entries match the field lists in src/records.rs.
-- Dates are DATE; times are TIMESTAMPTZ; amounts are BIGINT fen.

CREATE TABLE cases (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    unit_id TEXT NOT NULL,
    unit_known BOOLEAN NOT NULL,
    case_key TEXT NOT NULL,
    case_no TEXT NOT NULL,
    title TEXT,
    party TEXT,
    party_id TEXT,
    cause TEXT,
    filed_on DATE,
    decided_on DATE,
    closed_on DATE,
    amount BIGINT,
    major BOOLEAN,
    suspected_crime BOOLEAN,
    transfer_decided_on DATE,
    updated_at TIMESTAMPTZ,
    fingerprint BYTEA NOT NULL,
    source TEXT NOT NULL,
    first_seen_at TIMESTAMPTZ NOT NULL,
    changed_at TIMESTAMPTZ NOT NULL,
    UNIQUE (unit_id, case_key)
);

CREATE TABLE referrals (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    unit_id TEXT NOT NULL,
    unit_known BOOLEAN NOT NULL,
    case_key TEXT NOT NULL,
    case_no TEXT NOT NULL,
    party TEXT,
    entered_at TIMESTAMPTZ,
    transferred_at TIMESTAMPTZ,
    receiver TEXT,
    amount BIGINT,
    police_decision TEXT,
    police_decided_on DATE,
    updated_at TIMESTAMPTZ,
    fingerprint BYTEA NOT NULL,
    source TEXT NOT NULL,
    first_seen_at TIMESTAMPTZ NOT NULL,
    changed_at TIMESTAMPTZ NOT NULL,
    UNIQUE (unit_id, case_key)
);

CREATE TABLE entries (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    unit_id TEXT NOT NULL,
    unit_known BOOLEAN NOT NULL,
    case_key TEXT NOT NULL,
    case_no TEXT NOT NULL,
    title TEXT,
    party TEXT,
    decided_on DATE,
    amount BIGINT,
    entered_at TIMESTAMPTZ,
    updated_at TIMESTAMPTZ,
    fingerprint BYTEA NOT NULL,
    source TEXT NOT NULL,
    first_seen_at TIMESTAMPTZ NOT NULL,
    changed_at TIMESTAMPTZ NOT NULL,
    UNIQUE (unit_id, case_key)
);

CREATE TABLE record_history (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    feed TEXT NOT NULL,
    record_id BIGINT NOT NULL,
    source TEXT NOT NULL,
    changed_at TIMESTAMPTZ NOT NULL,
    changes TEXT NOT NULL
);
CREATE INDEX record_history_record ON record_history (feed, record_id);

CREATE TABLE source_state (
    name TEXT PRIMARY KEY,
    cursor TEXT,
    last_run_at TIMESTAMPTZ,
    last_success_at TIMESTAMPTZ,
    last_error_at TIMESTAMPTZ,
    last_error TEXT,
    rows_seen BIGINT NOT NULL DEFAULT 0,
    rows_inserted BIGINT NOT NULL DEFAULT 0,
    rows_updated BIGINT NOT NULL DEFAULT 0,
    rows_unchanged BIGINT NOT NULL DEFAULT 0,
    rows_quarantined BIGINT NOT NULL DEFAULT 0,
    rows_unknown_unit BIGINT NOT NULL DEFAULT 0
);

CREATE TABLE quarantine (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    source TEXT NOT NULL,
    location TEXT NOT NULL,
    row_no BIGINT NOT NULL,
    field TEXT NOT NULL,
    column_name TEXT,
    value TEXT NOT NULL,
    reason TEXT NOT NULL,
    raw TEXT NOT NULL,
    first_seen_at TIMESTAMPTZ NOT NULL,
    last_seen_at TIMESTAMPTZ NOT NULL,
    UNIQUE (source, location, row_no, field)
);
CREATE INDEX quarantine_seen ON quarantine (last_seen_at);
