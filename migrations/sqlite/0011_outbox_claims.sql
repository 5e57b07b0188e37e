-- Claims find the next message by index whatever the outbox holds: the ready messages by their
-- time, the expired leases by theirs (each a partial index over the few rows that can be claimed).
DROP INDEX outbox_due;
CREATE INDEX outbox_ready ON outbox (not_before, id) WHERE state IN ('pending', 'failed');
CREATE INDEX outbox_leased ON outbox (lease_until) WHERE state = 'sending';
