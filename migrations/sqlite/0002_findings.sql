-- Findings (SPEC §3): one row per rule and subject, identified by a stable key, with its
-- lifecycle (upcoming → due_soon → overdue → resolved, or waived by a person) and the history
-- of every transition.

CREATE TABLE findings (
    id INTEGER PRIMARY KEY,
    key TEXT NOT NULL UNIQUE,
    rule TEXT NOT NULL,
    unit_id TEXT NOT NULL,
    case_key TEXT,
    case_no TEXT,
    due TEXT NOT NULL,
    violated INTEGER NOT NULL,
    state TEXT NOT NULL,
    facts TEXT NOT NULL,
    first_seen_at TEXT NOT NULL,
    changed_at TEXT NOT NULL,
    resolved_at TEXT,
    resolution TEXT,
    waived_at TEXT,
    waived_by TEXT,
    waived_reason TEXT
);
CREATE INDEX findings_unit_state ON findings (unit_id, state);

CREATE TABLE finding_history (
    id INTEGER PRIMARY KEY,
    finding_id INTEGER NOT NULL REFERENCES findings (id),
    at TEXT NOT NULL,
    from_state TEXT,
    to_state TEXT NOT NULL,
    note TEXT
);
CREATE INDEX finding_history_finding ON finding_history (finding_id);
