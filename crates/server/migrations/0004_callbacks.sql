-- Job-finished callbacks. A job may name its own target (COS CallBack/CallBackFormat);
-- otherwise its queue's NotifyConfig applies when it is On. The delivery row is written in
-- the same transaction that ends the job, so no callback is lost; a deliverer claims due
-- deliveries with a lease and retries with backoff until it succeeds or gives up.
ALTER TABLE jobs ADD COLUMN callback_url TEXT;
ALTER TABLE jobs ADD COLUMN callback_format TEXT;

CREATE TABLE IF NOT EXISTS deliveries (
    id            TEXT PRIMARY KEY,          -- stable id, sent with every attempt
    job_id        TEXT NOT NULL REFERENCES jobs(id),
    url           TEXT NOT NULL,
    format        TEXT NOT NULL,             -- XML | JSON
    state         TEXT NOT NULL,             -- Pending | Delivered | GivenUp
    attempts      INTEGER NOT NULL DEFAULT 0,
    next_at       INTEGER NOT NULL,          -- Unix milliseconds
    created_at    INTEGER NOT NULL,
    ended_at      INTEGER,
    last_error    TEXT,
    lease_owner   TEXT,
    lease_expires INTEGER
);
CREATE INDEX IF NOT EXISTS deliveries_due ON deliveries (state, next_at);
CREATE INDEX IF NOT EXISTS deliveries_by_job ON deliveries (job_id);
