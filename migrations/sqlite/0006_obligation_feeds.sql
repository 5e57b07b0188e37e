-- The feeds of the obligations (SPEC §4): case-file reviews (one per reviewed file, keyed by the
-- unit and case number; score in hundredths) and events (joint meetings and trainings, keyed by
-- the organising unit and the event's own number). Column names match src/records.rs.

CREATE TABLE reviews (
    id INTEGER PRIMARY KEY,
    unit_id TEXT NOT NULL,
    unit_known INTEGER NOT NULL,
    case_key TEXT NOT NULL,
    case_no TEXT NOT NULL,
    reviewed_on TEXT,
    reviewers TEXT,
    score INTEGER,
    grade TEXT,
    veto TEXT,
    should_transfer INTEGER,
    updated_at TEXT,
    fingerprint BLOB NOT NULL,
    source TEXT NOT NULL,
    first_seen_at TEXT NOT NULL,
    changed_at TEXT NOT NULL,
    rev BIGINT NOT NULL DEFAULT 0,
    UNIQUE (unit_id, case_key)
);
CREATE INDEX reviews_rev ON reviews (rev);

CREATE TABLE events (
    id INTEGER PRIMARY KEY,
    unit_id TEXT NOT NULL,
    unit_known INTEGER NOT NULL,
    case_key TEXT NOT NULL,
    case_no TEXT NOT NULL,
    kind TEXT,
    held_on TEXT,
    title TEXT,
    units TEXT,
    attendees TEXT,
    minutes TEXT,
    updated_at TEXT,
    fingerprint BLOB NOT NULL,
    source TEXT NOT NULL,
    first_seen_at TEXT NOT NULL,
    changed_at TEXT NOT NULL,
    rev BIGINT NOT NULL DEFAULT 0,
    UNIQUE (unit_id, case_key)
);
CREATE INDEX events_rev ON events (rev);
