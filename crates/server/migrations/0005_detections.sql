-- File detections (Alibaba Sas, Volcengine nta, /v1): one row per scan of a file, the newest
-- row of a hash answering lookups. A detection is run by a job of tag FileDetect (its id is
-- the job's id); the row is written in the same transaction as the job. Rows expire after
-- the retention period (default 5 hours, as the clouds keep results).
CREATE TABLE IF NOT EXISTS detections (
    id            TEXT PRIMARY KEY,          -- the job id ('f' + 32 hex)
    hash_key      TEXT,                      -- the key the client gave (lower-case hex)
    md5           TEXT,
    sha1          TEXT,
    sha256        TEXT,
    size          INTEGER,
    state         TEXT NOT NULL,             -- Detecting | Done | Failed
    verdict       TEXT,                      -- clean | suspicious | malicious | unknown
    score         INTEGER,
    threat_type   TEXT,
    threat_name   TEXT,
    report        TEXT,                      -- JSON: the engine's report
    ruleset       TEXT,                      -- ruleset version of the scan
    error_code    TEXT,
    error_message TEXT,
    source        TEXT NOT NULL,             -- JSON: stored file, bucket object or URL
    options       TEXT NOT NULL,             -- JSON: archive expansion
    client_token  TEXT,                      -- idempotency token of the submission
    created_at    INTEGER NOT NULL,          -- Unix milliseconds
    finished_at   INTEGER,
    expires_at    INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS detections_md5 ON detections (md5, created_at);
CREATE INDEX IF NOT EXISTS detections_sha1 ON detections (sha1, created_at);
CREATE INDEX IF NOT EXISTS detections_sha256 ON detections (sha256, created_at);
CREATE INDEX IF NOT EXISTS detections_key ON detections (hash_key, created_at);
CREATE INDEX IF NOT EXISTS detections_token ON detections (client_token);
CREATE INDEX IF NOT EXISTS detections_expiry ON detections (expires_at);

-- Files uploaded for detection (Alibaba's form upload), kept by SHA-256 under
-- <data>/detect/. An upload slot is issued by CreateFileDetectUploadUrl and filled by the
-- form POST.
CREATE TABLE IF NOT EXISTS detect_uploads (
    oss_key       TEXT PRIMARY KEY,
    hash_key      TEXT NOT NULL,
    access_key    TEXT NOT NULL,
    max_size      INTEGER NOT NULL,
    created_at    INTEGER NOT NULL,
    expires_at    INTEGER NOT NULL,          -- the slot, then the stored file
    size          INTEGER,
    md5           TEXT,
    sha1          TEXT,
    sha256        TEXT,
    uploaded_at   INTEGER
);
CREATE INDEX IF NOT EXISTS detect_uploads_sha256 ON detect_uploads (sha256);
CREATE INDEX IF NOT EXISTS detect_uploads_md5 ON detect_uploads (md5);
