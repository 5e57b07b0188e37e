-- The web console's accounts (SPEC §10), their sessions and the failed sign-ins that throttle
-- guessing. Times are milliseconds since the epoch, as in job_runs.
CREATE TABLE users (
    login TEXT PRIMARY KEY,
    -- admin | liaison | procuratorate | justice | unit
    role TEXT NOT NULL,
    -- The unit of a `unit` account.
    unit_id TEXT,
    -- Argon2id, as a PHC string.
    password_hash TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    changed_at BIGINT NOT NULL,
    disabled_at BIGINT
);

-- A session is found by the SHA-256 of its cookie's token: the table alone opens none.
CREATE TABLE sessions (
    token_hash TEXT PRIMARY KEY,
    login TEXT NOT NULL REFERENCES users (login),
    -- The token the session's forms carry back.
    csrf TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX sessions_login ON sessions (login);

CREATE TABLE sign_in_failures (
    login TEXT NOT NULL,
    address TEXT NOT NULL,
    at BIGINT NOT NULL
);
CREATE INDEX sign_in_failures_login ON sign_in_failures (login, at);
CREATE INDEX sign_in_failures_address ON sign_in_failures (address, at);
