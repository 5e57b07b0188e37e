-- `status` lists the rows of units that are not configured: few, found through this index.
CREATE INDEX cases_unknown_unit ON cases (unit_id) WHERE unit_known = false;
