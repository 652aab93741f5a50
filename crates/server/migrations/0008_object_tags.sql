-- Object tags (COS PUT/GET/DELETE Object tagging, x-cos-tagging): JSON object of key → value.
ALTER TABLE objects ADD COLUMN tags TEXT NOT NULL DEFAULT '{}';
