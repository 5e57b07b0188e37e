-- The feeds behind R5 (copies of penalties to the police and procuratorate), R9 (major
-- penalties filed for review), R7 (procuratorial recommendations) and R8 (procuratorial opinions).
-- Column names match the field lists in src/records.rs. For recommendations and opinions,
-- case_no/case_key hold the document's own number; case_ref names the case it concerns.

CREATE TABLE copies (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    unit_id TEXT NOT NULL,
    unit_known BOOLEAN NOT NULL,
    case_key TEXT NOT NULL,
    case_no TEXT NOT NULL,
    party TEXT,
    decided_on DATE,
    copied_on DATE,
    receiver TEXT,
    updated_at TIMESTAMPTZ,
    fingerprint BYTEA NOT NULL,
    source TEXT NOT NULL,
    first_seen_at TIMESTAMPTZ NOT NULL,
    changed_at TIMESTAMPTZ NOT NULL,
    UNIQUE (unit_id, case_key)
);

CREATE TABLE filings (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    unit_id TEXT NOT NULL,
    unit_known BOOLEAN NOT NULL,
    case_key TEXT NOT NULL,
    case_no TEXT NOT NULL,
    party TEXT,
    decided_on DATE,
    filed_on DATE,
    receiver TEXT,
    updated_at TIMESTAMPTZ,
    fingerprint BYTEA NOT NULL,
    source TEXT NOT NULL,
    first_seen_at TIMESTAMPTZ NOT NULL,
    changed_at TIMESTAMPTZ NOT NULL,
    UNIQUE (unit_id, case_key)
);

CREATE TABLE recommendations (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    unit_id TEXT NOT NULL,
    unit_known BOOLEAN NOT NULL,
    case_key TEXT NOT NULL,
    case_no TEXT NOT NULL,
    case_ref TEXT,
    title TEXT,
    issued_on DATE,
    received_on DATE,
    replied_on DATE,
    reply TEXT,
    updated_at TIMESTAMPTZ,
    fingerprint BYTEA NOT NULL,
    source TEXT NOT NULL,
    first_seen_at TIMESTAMPTZ NOT NULL,
    changed_at TIMESTAMPTZ NOT NULL,
    UNIQUE (unit_id, case_key)
);

CREATE TABLE opinions (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    unit_id TEXT NOT NULL,
    unit_known BOOLEAN NOT NULL,
    case_key TEXT NOT NULL,
    case_no TEXT NOT NULL,
    case_ref TEXT,
    title TEXT,
    issued_on DATE,
    received_on DATE,
    replied_on DATE,
    reply TEXT,
    updated_at TIMESTAMPTZ,
    fingerprint BYTEA NOT NULL,
    source TEXT NOT NULL,
    first_seen_at TIMESTAMPTZ NOT NULL,
    changed_at TIMESTAMPTZ NOT NULL,
    UNIQUE (unit_id, case_key)
);
