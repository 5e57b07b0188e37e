-- When a finding's obligation arose as the data tells (the decision or receipt day; for a late
-- entry the entry's time). Reports count a finding from then, not from when liandong first saw
-- it. Rows from before this column start at their first sight; the next evaluation sets the
-- data's time (it rewrites every finding whose arose_at differs).
ALTER TABLE findings ADD COLUMN arose_at TEXT;
UPDATE findings SET arose_at = first_seen_at;
