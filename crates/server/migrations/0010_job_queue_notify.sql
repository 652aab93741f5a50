-- Whether a job without a callback of its own announces its end through its queue's
-- NotifyConfig: 0 for a COS submission with `CallBack=no`.
ALTER TABLE jobs ADD COLUMN queue_notify INTEGER NOT NULL DEFAULT 1;
