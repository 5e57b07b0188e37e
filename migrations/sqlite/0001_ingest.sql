-- Ingest: the three feeds of SPEC §2, their change history, per-source state and quarantine.
-- Column names of cases/referrals/entries match the field lists in src/records.rs.
-- Dates are TEXT 'YYYY-MM-DD'; times are TEXT in UTC; amounts are INTEGER fen.

CREATE TABLE cases (
    id INTEGER PRIMARY KEY,
    unit_id TEXT NOT NULL,
    unit_known INTEGER NOT NULL,
    case_key TEXT NOT NULL,
    case_no TEXT NOT NULL,
    title TEXT,
    party TEXT,
    party_id TEXT,
    cause TEXT,
    filed_on TEXT,
    decided_on TEXT,
    closed_on TEXT,
    amount INTEGER,
    major INTEGER,
    suspected_crime INTEGER,
    transfer_decided_on TEXT,
    updated_at TEXT,
    fingerprint BLOB NOT NULL,
    source TEXT NOT NULL,
    first_seen_at TEXT NOT NULL,
    changed_at TEXT NOT NULL,
    UNIQUE (unit_id, case_key)
);

CREATE TABLE referrals (
    id INTEGER PRIMARY KEY,
    unit_id TEXT NOT NULL,
    unit_known INTEGER NOT NULL,
    case_key TEXT NOT NULL,
    case_no TEXT NOT NULL,
    party TEXT,
    entered_at TEXT,
    transferred_at TEXT,
    receiver TEXT,
    amount INTEGER,
    police_decision TEXT,
    police_decided_on TEXT,
    updated_at TEXT,
    fingerprint BLOB NOT NULL,
    source TEXT NOT NULL,
    first_seen_at TEXT NOT NULL,
    changed_at TEXT NOT NULL,
    UNIQUE (unit_id, case_key)
);

CREATE TABLE entries (
    id INTEGER PRIMARY KEY,
    unit_id TEXT NOT NULL,
    unit_known INTEGER NOT NULL,
    case_key TEXT NOT NULL,
    case_no TEXT NOT NULL,
    title TEXT,
    party TEXT,
    decided_on TEXT,
    amount INTEGER,
    entered_at TEXT,
    updated_at TEXT,
    fingerprint BLOB NOT NULL,
    source TEXT NOT NULL,
    first_seen_at TEXT NOT NULL,
    changed_at TEXT NOT NULL,
    UNIQUE (unit_id, case_key)
);

CREATE TABLE record_history (
    id INTEGER PRIMARY KEY,
    feed TEXT NOT NULL,
    record_id INTEGER NOT NULL,
    source TEXT NOT NULL,
    changed_at TEXT NOT NULL,
    changes TEXT NOT NULL
);
CREATE INDEX record_history_record ON record_history (feed, record_id);

CREATE TABLE source_state (
    name TEXT PRIMARY KEY,
    cursor TEXT,
    last_run_at TEXT,
    last_success_at TEXT,
    last_error_at TEXT,
    last_error TEXT,
    rows_seen INTEGER NOT NULL DEFAULT 0,
    rows_inserted INTEGER NOT NULL DEFAULT 0,
    rows_updated INTEGER NOT NULL DEFAULT 0,
    rows_unchanged INTEGER NOT NULL DEFAULT 0,
    rows_quarantined INTEGER NOT NULL DEFAULT 0,
    rows_unknown_unit INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE quarantine (
    id INTEGER PRIMARY KEY,
    source TEXT NOT NULL,
    location TEXT NOT NULL,
    row_no INTEGER NOT NULL,
    field TEXT NOT NULL,
    column_name TEXT,
    value TEXT NOT NULL,
    reason TEXT NOT NULL,
    raw TEXT NOT NULL,
    first_seen_at TEXT NOT NULL,
    last_seen_at TEXT NOT NULL,
    UNIQUE (source, location, row_no, field)
);
CREATE INDEX quarantine_seen ON quarantine (last_seen_at);
