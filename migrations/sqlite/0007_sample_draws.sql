-- Review sample draws (SPEC §4): what was drawn for a unit and quarter, from which seed and which
-- population as of which day, so that `liandong sample verify` can re-run the draw and say
-- exactly what changed. Lists are JSON arrays of case keys (population sorted; focused: those of
-- the population that were focused picks; drawn: in draw order).
CREATE TABLE sample_draws (
    id INTEGER PRIMARY KEY,
    unit_id TEXT NOT NULL,
    quarter TEXT NOT NULL,
    seed TEXT NOT NULL,
    as_of TEXT NOT NULL,
    basis TEXT NOT NULL,
    ratio_percent INTEGER NOT NULL,
    population_hash TEXT NOT NULL,
    population TEXT NOT NULL,
    focused TEXT NOT NULL,
    target INTEGER NOT NULL,
    drawn TEXT NOT NULL,
    drawn_at TEXT NOT NULL,
    drawn_by TEXT NOT NULL
);
CREATE INDEX sample_draws_unit_quarter ON sample_draws (unit_id, quarter);
