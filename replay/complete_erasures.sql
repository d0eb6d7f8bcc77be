-- Completes the erasure requests of `make forget`: deletes every row of an erased customer
-- that has left BigQuery's streaming buffer, then marks done each request none of whose rows
-- is left. Idempotent: a run that repeats one changes nothing.
--
-- Generated from replay/erasure.py by `make generate`: edit that file, not this one.
-- Terraform runs it as a scheduled query, BigQuery binding @run_time (the scheduled time);
-- `make forget` runs its statements one by one, binding the current time. The tables are
-- placeholders: Terraform's templatefile and Python's string.Template put in their names.
-- A row is in the streaming buffer while written less than 90 minutes
-- before @run_time.

DELETE FROM ${customers_dlq_replays} AS r
WHERE r.replayed_at < TIMESTAMP_SUB(@run_time, INTERVAL 90 MINUTE)
  AND EXISTS (
    SELECT 1 FROM ${erasure_requests} AS e
    WHERE e.status = 'pending'
      AND (r.message_id IN UNNEST(e.message_ids)
           OR r.replay_message_id IN UNNEST(e.message_ids)));

DELETE FROM ${customers_dlq} AS d
WHERE d.timestamp < TIMESTAMP_SUB(@run_time, INTERVAL 90 MINUTE)
  AND EXISTS (
    SELECT 1 FROM ${erasure_requests} AS e
    WHERE e.status = 'pending'
      AND (d.message_id IN UNNEST(e.message_ids)
           OR EXISTS (SELECT 1 FROM UNNEST(d.attributes) AS a WHERE a.key = 'customer_id' AND LOWER(a.value) = e.customer_id)
           OR STRPOS(LOWER(d.payloadString), e.customer_id) > 0
           OR STRPOS(LOWER(SAFE_CONVERT_BYTES_TO_STRING(d.payloadBytes)), e.customer_id) > 0));

DELETE FROM ${customers} AS c
WHERE c.ingested_at < TIMESTAMP_SUB(@run_time, INTERVAL 90 MINUTE)
  AND EXISTS (
    SELECT 1 FROM ${erasure_requests} AS e
    WHERE e.status = 'pending'
      AND (LOWER(c.customer_id) = e.customer_id));

UPDATE ${erasure_requests} AS e
SET status = 'done', completed_at = @run_time
WHERE e.status = 'pending'
  AND NOT EXISTS (
    SELECT 1 FROM ${customers_dlq_replays} AS r
    WHERE r.message_id IN UNNEST(e.message_ids)
      OR r.replay_message_id IN UNNEST(e.message_ids))
  AND NOT EXISTS (
    SELECT 1 FROM ${customers_dlq} AS d
    WHERE d.message_id IN UNNEST(e.message_ids)
      OR EXISTS (SELECT 1 FROM UNNEST(d.attributes) AS a WHERE a.key = 'customer_id' AND LOWER(a.value) = e.customer_id)
      OR STRPOS(LOWER(d.payloadString), e.customer_id) > 0
      OR STRPOS(LOWER(SAFE_CONVERT_BYTES_TO_STRING(d.payloadBytes)), e.customer_id) > 0)
  AND NOT EXISTS (
    SELECT 1 FROM ${customers} AS c
    WHERE LOWER(c.customer_id) = e.customer_id);
