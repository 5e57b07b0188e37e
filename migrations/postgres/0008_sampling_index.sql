-- Review sampling counts each unit's closed files of a period (`liandong obligations`): read in
-- unit order from this index alone, not from the cases themselves.
CREATE INDEX cases_unit_closed ON cases (unit_id, closed_on);
