-- Where a queue's finished jobs are announced, as typed columns: the store no longer reads
-- the dialect's notification settings (the JSON in `notify`) to decide it.
ALTER TABLE queues ADD COLUMN notify_url TEXT;
ALTER TABLE queues ADD COLUMN notify_format TEXT;
UPDATE queues
   SET notify_url = json_extract(notify, '$.url'),
       notify_format = UPPER(COALESCE(json_extract(notify, '$.result_format'), 'XML'))
 WHERE json_extract(notify, '$.state') = 'On' AND json_extract(notify, '$.url') IS NOT NULL;
