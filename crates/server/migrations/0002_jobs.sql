-- Jobs of every tag (FileHashCode now, FileDetect later), their queues, and the callback
-- deliveries that must survive restarts. A job is claimed with a lease (owner + expiry);
-- a job whose lease expired (its worker died) is claimed again.
CREATE TABLE IF NOT EXISTS queues (
    id            TEXT PRIMARY KEY,          -- 'p' + 32 hex
    bucket        TEXT NOT NULL,
    name          TEXT NOT NULL,
    state         TEXT NOT NULL,             -- Active | Paused
    is_default    INTEGER NOT NULL DEFAULT 0,
    notify        TEXT NOT NULL DEFAULT '{}',-- JSON NotifyConfig
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS queues_default ON queues (bucket) WHERE is_default = 1;

CREATE TABLE IF NOT EXISTS jobs (
    id            TEXT PRIMARY KEY,          -- 'f' + 32 hex
    seq           INTEGER NOT NULL UNIQUE,   -- submission order (ids are random)
    tag           TEXT NOT NULL,
    queue_id      TEXT NOT NULL REFERENCES queues(id),
    bucket        TEXT NOT NULL,
    state         TEXT NOT NULL,             -- Submitted Running Success Failed Pause Cancel
    input         TEXT NOT NULL,             -- JSON: what the job works on and how
    result        TEXT,                      -- JSON, on Success
    error_code    TEXT,
    error_message TEXT,
    progress      INTEGER NOT NULL DEFAULT 0,
    created_at    INTEGER NOT NULL,          -- Unix milliseconds
    started_at    INTEGER,
    ended_at      INTEGER,
    attempts      INTEGER NOT NULL DEFAULT 0,
    lease_owner   TEXT,
    lease_expires INTEGER
);
CREATE INDEX IF NOT EXISTS jobs_runnable ON jobs (state, seq);
CREATE INDEX IF NOT EXISTS jobs_by_bucket ON jobs (bucket, seq);
CREATE INDEX IF NOT EXISTS jobs_by_queue ON jobs (queue_id, state);
