-- The feeds behind R5 (copies of penalties to the police and procuratorate), R9 (major
-- penalties filed for review), R7 (procuratorial recommendations) and R8 (procuratorial opinions).
-- Column names match the field lists in src/records.rs. For recommendations and opinions,
-- case_no/case_key hold the document's own number; case_ref names the case it concerns.

CREATE TABLE copies (
    id INTEGER PRIMARY KEY,
    unit_id TEXT NOT NULL,
    unit_known INTEGER NOT NULL,
    case_key TEXT NOT NULL,
    case_no TEXT NOT NULL,
    party TEXT,
    decided_on TEXT,
    copied_on TEXT,
    receiver TEXT,
    updated_at TEXT,
    fingerprint BLOB NOT NULL,
    source TEXT NOT NULL,
    first_seen_at TEXT NOT NULL,
    changed_at TEXT NOT NULL,
    UNIQUE (unit_id, case_key)
);

CREATE TABLE filings (
    id INTEGER PRIMARY KEY,
    unit_id TEXT NOT NULL,
    unit_known INTEGER NOT NULL,
    case_key TEXT NOT NULL,
    case_no TEXT NOT NULL,
    party TEXT,
    decided_on TEXT,
    filed_on TEXT,
    receiver TEXT,
    updated_at TEXT,
    fingerprint BLOB NOT NULL,
    source TEXT NOT NULL,
    first_seen_at TEXT NOT NULL,
    changed_at TEXT NOT NULL,
    UNIQUE (unit_id, case_key)
);

CREATE TABLE recommendations (
    id INTEGER PRIMARY KEY,
    unit_id TEXT NOT NULL,
    unit_known INTEGER NOT NULL,
    case_key TEXT NOT NULL,
    case_no TEXT NOT NULL,
    case_ref TEXT,
    title TEXT,
    issued_on TEXT,
    received_on TEXT,
    replied_on TEXT,
    reply TEXT,
    updated_at TEXT,
    fingerprint BLOB NOT NULL,
    source TEXT NOT NULL,
    first_seen_at TEXT NOT NULL,
    changed_at TEXT NOT NULL,
    UNIQUE (unit_id, case_key)
);

CREATE TABLE opinions (
    id INTEGER PRIMARY KEY,
    unit_id TEXT NOT NULL,
    unit_known INTEGER NOT NULL,
    case_key TEXT NOT NULL,
    case_no TEXT NOT NULL,
    case_ref TEXT,
    title TEXT,
    issued_on TEXT,
    received_on TEXT,
    replied_on TEXT,
    reply TEXT,
    updated_at TEXT,
    fingerprint BLOB NOT NULL,
    source TEXT NOT NULL,
    first_seen_at TEXT NOT NULL,
    changed_at TEXT NOT NULL,
    UNIQUE (unit_id, case_key)
);
