-- COS Cloud Infinite file processing is on for every bucket unless DELETE /file_bucket
-- turned it off; POST /file_bucket turns it on again.
ALTER TABLE buckets ADD COLUMN file_processing INTEGER NOT NULL DEFAULT 1;
