-- Buckets and the index of objects. Object data lives in immutable blob files under
-- <data>/blobs; a row points at its blob, so replacing an object or its metadata is one
-- transaction, and readers never see a partial object.
CREATE TABLE IF NOT EXISTS buckets (
    name        TEXT PRIMARY KEY,
    region      TEXT NOT NULL,
    created_at  INTEGER NOT NULL,          -- Unix milliseconds
    public_read INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE IF NOT EXISTS objects (
    bucket        TEXT NOT NULL REFERENCES buckets(name),
    key           BLOB NOT NULL,           -- UTF-8 bytes; BLOB so ranges compare bytewise
    blob          TEXT NOT NULL,           -- file name under <data>/blobs
    size          INTEGER NOT NULL,
    etag          TEXT NOT NULL,           -- MD5 hex, unquoted
    crc64         TEXT NOT NULL,           -- CRC-64/XZ, decimal
    content_type  TEXT NOT NULL,
    headers       TEXT NOT NULL,           -- JSON object of stored standard headers
    user_meta     TEXT NOT NULL,           -- JSON object of x-cos-meta-* (names lower-case)
    last_modified INTEGER NOT NULL,        -- Unix milliseconds
    PRIMARY KEY (bucket, key)
) WITHOUT ROWID;
