-- The weekly report's snapshot (SPEC §6): per report period (`weekly:2025-W42`) and unit, what
-- the report said, so that the next one can say what changed and how the rank moved.
CREATE TABLE report_snapshots (
    period TEXT NOT NULL,
    unit_id TEXT NOT NULL,
    data TEXT NOT NULL,
    taken_at TEXT NOT NULL,
    PRIMARY KEY (period, unit_id)
);
