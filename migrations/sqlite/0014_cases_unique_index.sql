-- The cases' (unit, case number) key as a named unique index instead of a table constraint.
-- A constraint's index cannot be dropped; a named one can, so that a first load into an empty
-- table builds it once from sorted rows at commit, like the other indexes, instead of keeping it
-- up to date row by row (the import folds a case listed twice before building it). SQLite cannot
-- drop a constraint, so the table is rebuilt: same columns in the same order, same rows and ids.
-- Nothing refers to cases by foreign key. PostgreSQL keeps its constraint (no deferred builds).

CREATE TABLE cases_rebuilt (
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
    rev BIGINT NOT NULL DEFAULT 0
);

INSERT INTO cases_rebuilt (
    id, unit_id, unit_known, case_key, case_no, title, party, party_id, cause, filed_on,
    decided_on, closed_on, amount, major, suspected_crime, transfer_decided_on, updated_at,
    fingerprint, source, first_seen_at, changed_at, rev
)
SELECT
    id, unit_id, unit_known, case_key, case_no, title, party, party_id, cause, filed_on,
    decided_on, closed_on, amount, major, suspected_crime, transfer_decided_on, updated_at,
    fingerprint, source, first_seen_at, changed_at, rev
FROM cases;

DROP TABLE cases;
ALTER TABLE cases_rebuilt RENAME TO cases;

CREATE UNIQUE INDEX cases_unit_case ON cases (unit_id, case_key);
CREATE INDEX cases_rev ON cases (rev);
CREATE INDEX cases_key ON cases (case_key);
CREATE INDEX cases_unit_closed ON cases (unit_id, closed_on);
CREATE INDEX cases_unknown_unit ON cases (unit_id) WHERE unit_known = false;
