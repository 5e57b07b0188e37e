-- The notification outbox (SPEC §5). Times are milliseconds since the Unix epoch (UTC), so that
-- both backends compare them as numbers.
--
-- notices: one row per (item, stage, recipient, channel) ever queued: the dedupe key that makes a
-- reminder go out once, whatever restarts, retries or replicas do. item is `finding:<key>` or
-- `obligation:<kind>:<unit>:<period>`; finding_key links a finding's notices to it, so that a
-- message whose findings were all resolved or waived before it left is cancelled.
CREATE TABLE notices (
    key TEXT PRIMARY KEY,
    item TEXT NOT NULL,
    finding_key TEXT,
    stage TEXT NOT NULL,
    channel TEXT NOT NULL,
    message_id BIGINT NOT NULL,
    queued_at BIGINT NOT NULL
);
CREATE INDEX notices_message ON notices (message_id);

-- outbox: one digest per recipient and channel and run; payload is what the channel needs beside
-- the text (the HTML of an e-mail, the template parameters of an SMS as JSON). state: pending → sending (claimed under
-- a lease) → sent | failed (to be retried at not_before) → dead; cancelled when every finding it
-- carried was closed before it left.
CREATE TABLE outbox (
    id INTEGER PRIMARY KEY,
    dedupe_key TEXT NOT NULL UNIQUE,
    channel TEXT NOT NULL,
    address TEXT NOT NULL,
    recipient TEXT NOT NULL,
    unit_id TEXT,
    kind TEXT NOT NULL,
    subject TEXT NOT NULL,
    body TEXT NOT NULL,
    payload TEXT,
    items INTEGER NOT NULL,
    state TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    not_before BIGINT NOT NULL,
    lease_owner TEXT,
    lease_until BIGINT,
    last_error TEXT,
    provider_id TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    sent_at BIGINT
);
CREATE INDEX outbox_due ON outbox (state, not_before);

-- deliveries: the audit of every send attempt: what, to whom, through which channel, when, how
-- it ended and the provider's message id.
CREATE TABLE deliveries (
    id INTEGER PRIMARY KEY,
    message_id BIGINT NOT NULL,
    attempt INTEGER NOT NULL,
    channel TEXT NOT NULL,
    address TEXT NOT NULL,
    started_at BIGINT NOT NULL,
    finished_at BIGINT NOT NULL,
    outcome TEXT NOT NULL,
    provider_id TEXT,
    error TEXT,
    owner TEXT NOT NULL
);
CREATE INDEX deliveries_message ON deliveries (message_id);
CREATE INDEX deliveries_address ON deliveries (channel, address, finished_at);
