-- Multipart uploads in progress (COS Initiate / Upload Part / Complete Multipart Upload).
-- An upload names the key it will become and the metadata given when it began; each part is
-- a blob of its own until Complete concatenates them into the object's blob and, in the
-- transaction that makes the object visible, deletes the upload and its parts.
CREATE TABLE IF NOT EXISTS uploads (
    upload_id    TEXT PRIMARY KEY,        -- sorts by initiation time
    bucket       TEXT NOT NULL REFERENCES buckets(name),
    key          BLOB NOT NULL,           -- UTF-8 bytes, compared bytewise as in objects
    initiated    INTEGER NOT NULL,        -- Unix milliseconds
    content_type TEXT,                    -- NULL: the default type
    headers      TEXT NOT NULL,           -- JSON, as in objects
    user_meta    TEXT NOT NULL,           -- JSON, as in objects
    tags         TEXT NOT NULL            -- JSON, as in objects
);
CREATE INDEX IF NOT EXISTS uploads_by_key ON uploads (bucket, key, upload_id);
CREATE INDEX IF NOT EXISTS uploads_by_age ON uploads (initiated);

CREATE TABLE IF NOT EXISTS upload_parts (
    upload_id     TEXT NOT NULL REFERENCES uploads(upload_id),
    part_number   INTEGER NOT NULL,       -- 1 to 10,000
    blob          TEXT NOT NULL,          -- as objects.blob
    size          INTEGER NOT NULL,
    etag          TEXT NOT NULL,          -- MD5 hex, unquoted
    crc64         TEXT NOT NULL,          -- CRC-64/XZ, decimal
    last_modified INTEGER NOT NULL,       -- Unix milliseconds
    PRIMARY KEY (upload_id, part_number)
) WITHOUT ROWID;
