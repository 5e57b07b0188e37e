-- Findings (SPEC §3): one row per rule and subject, identified by a stable key, with its
-- lifecycle (upcoming → due_soon → overdue → resolved, or waived by a person) and the history
-- of every transition.

CREATE TABLE findings (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    key TEXT NOT NULL UNIQUE,
    rule TEXT NOT NULL,
    unit_id TEXT NOT NULL,
    case_key TEXT,
    case_no TEXT,
    due TIMESTAMPTZ NOT NULL,
    violated BOOLEAN NOT NULL,
    state TEXT NOT NULL,
    facts TEXT NOT NULL,
    first_seen_at TIMESTAMPTZ NOT NULL,
    changed_at TIMESTAMPTZ NOT NULL,
    resolved_at TIMESTAMPTZ,
    resolution TEXT,
    waived_at TIMESTAMPTZ,
    waived_by TEXT,
    waived_reason TEXT
);
CREATE INDEX findings_unit_state ON findings (unit_id, state);

CREATE TABLE finding_history (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    finding_id BIGINT NOT NULL REFERENCES findings (id),
    at TIMESTAMPTZ NOT NULL,
    from_state TEXT,
    to_state TEXT NOT NULL,
    note TEXT
);
CREATE INDEX finding_history_finding ON finding_history (finding_id);
