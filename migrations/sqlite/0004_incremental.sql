-- Incremental evaluation (issue 3): a store-wide revision stamped on every row an import writes,
-- so that an evaluation can look again at exactly what changed since its last run; indexes to
-- find a case number across units; how each finding's case met its platform record; the
-- platform records no case claims by number (the fallback pool); and the last evaluation.

-- One row. An import takes the next revision at its start (the row lock makes concurrent
-- imports take turns on PostgreSQL; SQLite has one writer anyway), so a revision that is
-- visible implies every row stamped with it or an earlier one is visible too.
CREATE TABLE store_clock (id INTEGER PRIMARY KEY, rev BIGINT NOT NULL);
INSERT INTO store_clock (id, rev) VALUES (1, 0);

ALTER TABLE cases ADD COLUMN rev BIGINT NOT NULL DEFAULT 0;
CREATE INDEX cases_rev ON cases (rev);
ALTER TABLE referrals ADD COLUMN rev BIGINT NOT NULL DEFAULT 0;
CREATE INDEX referrals_rev ON referrals (rev);
ALTER TABLE entries ADD COLUMN rev BIGINT NOT NULL DEFAULT 0;
CREATE INDEX entries_rev ON entries (rev);
ALTER TABLE copies ADD COLUMN rev BIGINT NOT NULL DEFAULT 0;
CREATE INDEX copies_rev ON copies (rev);
ALTER TABLE filings ADD COLUMN rev BIGINT NOT NULL DEFAULT 0;
CREATE INDEX filings_rev ON filings (rev);
ALTER TABLE recommendations ADD COLUMN rev BIGINT NOT NULL DEFAULT 0;
CREATE INDEX recommendations_rev ON recommendations (rev);
ALTER TABLE opinions ADD COLUMN rev BIGINT NOT NULL DEFAULT 0;
CREATE INDEX opinions_rev ON opinions (rev);

CREATE INDEX cases_key ON cases (case_key);
CREATE INDEX referrals_key ON referrals (case_key);
CREATE INDEX entries_key ON entries (case_key);
CREATE INDEX copies_key ON copies (case_key);
CREATE INDEX filings_key ON filings (case_key);

-- How the finding's case was matched to its platform record: case_no, case_no_other_unit,
-- party_and_date, none or ambiguous (NULL for rules without matching). The cases without a
-- match by number compete for the pool's records, so an incremental evaluation reloads them.
ALTER TABLE findings ADD COLUMN link TEXT;
CREATE INDEX findings_link ON findings (link, unit_id);
CREATE INDEX findings_state_due ON findings (state, due);

-- Platform records (feed = table name) that no case claims by case number.
CREATE TABLE platform_pool (
    feed TEXT NOT NULL,
    record_id BIGINT NOT NULL,
    PRIMARY KEY (feed, record_id)
);

-- The last evaluation: up to which revision it saw, at which as-of time, under which rules.
CREATE TABLE evaluation_state (
    id INTEGER PRIMARY KEY,
    rev BIGINT NOT NULL,
    as_of TEXT NOT NULL,
    config TEXT NOT NULL,
    mode TEXT NOT NULL,
    evaluated_at TEXT NOT NULL
);
