-- Running jobs by lease expiry: a claim looks for an expired lease with one seek instead of
-- visiting every running job (docs/benchmarks.md, issue 4, session 5).
CREATE INDEX IF NOT EXISTS jobs_leases ON jobs (lease_expires) WHERE state = 'Running';
