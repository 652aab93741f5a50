-- The shared metadata store's schema (PostgreSQL): the embedded store's tables after its
-- migrations 0001-0010 (see ../), with PostgreSQL's types, plus the state that several
-- nodes share (replayed nonces, counters, node heartbeats, the active ruleset).
-- Times are Unix milliseconds (BIGINT), as in the embedded store; leases and claims take
-- them from the database's clock. JSON columns stay TEXT: the store reads them whole.
CREATE TABLE buckets (
    name            TEXT PRIMARY KEY,
    region          TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    public_read     BOOLEAN NOT NULL DEFAULT FALSE,
    file_processing BOOLEAN NOT NULL DEFAULT TRUE
);

CREATE TABLE objects (
    bucket        TEXT NOT NULL REFERENCES buckets(name),
    key           BYTEA NOT NULL,          -- UTF-8 bytes; BYTEA so ranges compare bytewise
    blob          TEXT NOT NULL,           -- the blob's id in the blob store
    size          BIGINT NOT NULL,
    etag          TEXT NOT NULL,
    crc64         TEXT NOT NULL,
    content_type  TEXT NOT NULL,
    headers       TEXT NOT NULL,
    user_meta     TEXT NOT NULL,
    tags          TEXT NOT NULL DEFAULT '{}',
    last_modified BIGINT NOT NULL,
    PRIMARY KEY (bucket, key)
);
CREATE INDEX objects_blob ON objects (blob);

CREATE TABLE uploads (
    upload_id    TEXT PRIMARY KEY,
    bucket       TEXT NOT NULL REFERENCES buckets(name),
    key          BYTEA NOT NULL,
    initiated    BIGINT NOT NULL,
    content_type TEXT,
    headers      TEXT NOT NULL,
    user_meta    TEXT NOT NULL,
    tags         TEXT NOT NULL
);
CREATE INDEX uploads_by_key ON uploads (bucket, key, upload_id);
CREATE INDEX uploads_by_age ON uploads (initiated);

CREATE TABLE upload_parts (
    upload_id     TEXT NOT NULL REFERENCES uploads(upload_id),
    part_number   INTEGER NOT NULL,
    blob          TEXT NOT NULL,
    size          BIGINT NOT NULL,
    etag          TEXT NOT NULL,
    crc64         TEXT NOT NULL,
    last_modified BIGINT NOT NULL,
    PRIMARY KEY (upload_id, part_number)
);
CREATE INDEX upload_parts_blob ON upload_parts (blob);

CREATE TABLE queues (
    id            TEXT PRIMARY KEY,
    bucket        TEXT NOT NULL,
    name          TEXT NOT NULL,
    state         TEXT NOT NULL,
    is_default    BOOLEAN NOT NULL DEFAULT FALSE,
    notify        TEXT NOT NULL DEFAULT '{}',
    notify_url    TEXT,
    notify_format TEXT,
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL
);
CREATE UNIQUE INDEX queues_default ON queues (bucket) WHERE is_default;

CREATE TABLE jobs (
    id              TEXT PRIMARY KEY,
    seq             BIGINT GENERATED ALWAYS AS IDENTITY UNIQUE, -- submission order
    tag             TEXT NOT NULL,
    queue_id        TEXT NOT NULL REFERENCES queues(id),
    bucket          TEXT NOT NULL,
    state           TEXT NOT NULL,
    input           TEXT NOT NULL,
    result          TEXT,
    error_code      TEXT,
    error_message   TEXT,
    progress        INTEGER NOT NULL DEFAULT 0,
    created_at      BIGINT NOT NULL,
    started_at      BIGINT,
    ended_at        BIGINT,
    attempts        INTEGER NOT NULL DEFAULT 0,
    lease_owner     TEXT,
    lease_expires   BIGINT,
    callback_url    TEXT,
    callback_format TEXT,
    queue_notify    BOOLEAN NOT NULL DEFAULT TRUE
);
CREATE INDEX jobs_runnable ON jobs (state, seq);
CREATE INDEX jobs_by_bucket ON jobs (bucket, seq);
CREATE INDEX jobs_by_queue ON jobs (queue_id, state);
CREATE INDEX jobs_leases ON jobs (lease_expires) WHERE state = 'Running';

CREATE TABLE deliveries (
    id            TEXT PRIMARY KEY,
    job_id        TEXT NOT NULL REFERENCES jobs(id),
    url           TEXT NOT NULL,
    format        TEXT NOT NULL,
    state         TEXT NOT NULL,
    attempts      INTEGER NOT NULL DEFAULT 0,
    next_at       BIGINT NOT NULL,
    created_at    BIGINT NOT NULL,
    ended_at      BIGINT,
    last_error    TEXT,
    lease_owner   TEXT,
    lease_expires BIGINT
);
CREATE INDEX deliveries_due ON deliveries (state, next_at);
CREATE INDEX deliveries_by_job ON deliveries (job_id);

CREATE TABLE detections (
    id            TEXT PRIMARY KEY,
    hash_key      TEXT,
    md5           TEXT,
    sha1          TEXT,
    sha256        TEXT,
    size          BIGINT,
    state         TEXT NOT NULL,
    verdict       TEXT,
    score         INTEGER,
    threat_type   TEXT,
    threat_name   TEXT,
    report        TEXT,
    ruleset       TEXT,
    error_code    TEXT,
    error_message TEXT,
    source        TEXT NOT NULL,
    options       TEXT NOT NULL,
    client_token  TEXT,
    created_at    BIGINT NOT NULL,
    finished_at   BIGINT,
    expires_at    BIGINT NOT NULL
);
CREATE INDEX detections_md5 ON detections (md5, created_at);
CREATE INDEX detections_sha1 ON detections (sha1, created_at);
CREATE INDEX detections_sha256 ON detections (sha256, created_at);
CREATE INDEX detections_key ON detections (hash_key, created_at);
CREATE INDEX detections_token ON detections (client_token);
CREATE INDEX detections_expiry ON detections (expires_at);

CREATE TABLE detect_uploads (
    oss_key     TEXT PRIMARY KEY,
    hash_key    TEXT NOT NULL,
    access_key  TEXT NOT NULL,
    max_size    BIGINT NOT NULL,
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL,
    size        BIGINT,
    md5         TEXT,
    sha1        TEXT,
    sha256      TEXT,
    uploaded_at BIGINT
);
CREATE INDEX detect_uploads_sha256 ON detect_uploads (sha256);
CREATE INDEX detect_uploads_md5 ON detect_uploads (md5);

-- Signature nonces seen (Alibaba SignatureNonce), until the request they came with expires.
-- A logged table: a crash must not reopen the replay window.
CREATE TABLE nonces (
    access_key TEXT NOT NULL,
    nonce      TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    PRIMARY KEY (access_key, nonce)
);
CREATE INDEX nonces_expiry ON nonces (expires_at);

-- Request counters (GetFileDetectApiInvokeInfo), summed over the nodes.
CREATE TABLE counters (
    name  TEXT PRIMARY KEY,
    value BIGINT NOT NULL
);

-- Live nodes: each renews its row; rate limits divide by the nodes seen recently, and a
-- node's ruleset version is compared with the active one.
CREATE TABLE nodes (
    id        TEXT PRIMARY KEY,             -- host, pid and a boot nonce
    seen_at   BIGINT NOT NULL,              -- database clock, Unix milliseconds
    started   BIGINT NOT NULL,
    ruleset   TEXT
);

-- Settings the nodes agree on (the active ruleset version).
CREATE TABLE settings (
    name  TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
