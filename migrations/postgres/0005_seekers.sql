-- The cases that found no platform record by number (match none, ambiguous, or by party and
-- date), with their party as compared (squeezed): they compete for the fallback pool, so an
-- incremental evaluation looks again at those of a unit and party that something changed for.
CREATE TABLE fallback_seekers (
    unit_id TEXT NOT NULL,
    case_key TEXT NOT NULL,
    party_key TEXT NOT NULL,
    PRIMARY KEY (unit_id, case_key)
);
CREATE INDEX fallback_seekers_party ON fallback_seekers (unit_id, party_key);

-- An incremental evaluation finds the findings of the cases it looked at by (unit, case key).
CREATE INDEX findings_subject ON findings (unit_id, case_key);
