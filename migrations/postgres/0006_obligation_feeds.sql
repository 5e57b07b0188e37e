-- The feeds of the obligations (SPEC §4): case-file reviews (one per reviewed file, keyed by the
-- unit and case number; score in hundredths) and events (joint meetings and trainings, keyed by
-- the organising unit and the event's own number). Column names match src/records.rs.

CREATE TABLE reviews (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    unit_id TEXT NOT NULL,
    unit_known BOOLEAN NOT NULL,
    case_key TEXT NOT NULL,
    case_no TEXT NOT NULL,
    reviewed_on DATE,
    reviewers TEXT,
    score BIGINT,
    grade TEXT,
    veto TEXT,
    should_transfer BOOLEAN,
    updated_at TIMESTAMPTZ,
    fingerprint BYTEA NOT NULL,
    source TEXT NOT NULL,
    first_seen_at TIMESTAMPTZ NOT NULL,
    changed_at TIMESTAMPTZ NOT NULL,
    rev BIGINT NOT NULL DEFAULT 0,
    UNIQUE (unit_id, case_key)
);
CREATE INDEX reviews_rev ON reviews (rev);

CREATE TABLE events (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    unit_id TEXT NOT NULL,
    unit_known BOOLEAN NOT NULL,
    case_key TEXT NOT NULL,
    case_no TEXT NOT NULL,
    kind TEXT,
    held_on DATE,
    title TEXT,
    units TEXT,
    attendees TEXT,
    minutes TEXT,
    updated_at TIMESTAMPTZ,
    fingerprint BYTEA NOT NULL,
    source TEXT NOT NULL,
    first_seen_at TIMESTAMPTZ NOT NULL,
    changed_at TIMESTAMPTZ NOT NULL,
    rev BIGINT NOT NULL DEFAULT 0,
    UNIQUE (unit_id, case_key)
);
CREATE INDEX events_rev ON events (rev);
