-- Dead letters of the last 24 hours by stage and error class, most frequent first.
--
-- The error class is errorMessage without what varies from message to message, so that one cause
-- is one row: the envelope prefixes "K of M users in the envelope are invalid: " and "results[N]: "
-- (an envelope's one dead letter is classed by its first invalid user), the "[payload truncated
-- ...]" note, quoted values (replaced by <value>), lengths and out-of-range numbers (N), and every
-- detail after the first ": " (the JSON decoder's position, BigQuery's per-row reason). Filtering on `timestamp`, the partitioning
-- column, reads only the last two daily partitions.
SELECT
  stage,
  error_class,
  COUNT(*) AS dead_letters,
  MIN(timestamp) AS first_seen,
  MAX(timestamp) AS last_seen
FROM (
  SELECT
    stage,
    timestamp,
    REGEXP_REPLACE(
      REGEXP_REPLACE(
        REGEXP_EXTRACT(
          -- \x27 and \x22 are ' and ": a quoted value as Python's repr() writes it, maybe cut short.
          REGEXP_REPLACE(
            REGEXP_REPLACE(
              REGEXP_REPLACE(
                errorMessage,
                r'^(?:[0-9]+ of [0-9]+ users in the envelope are invalid: )?results\[[0-9]+\]: ', ''),
              r' \[payload truncated to [0-9]+ of [0-9]+ bytes\]', ''),
            r'\x27[^\x27]*\x27?|\x22[^\x22]*\x22?', '<value>'),
          -- everything before the first ": "
          r'^(?:[^:]|:[^ ])*'),
        r'[0-9]+ characters long', 'N characters long'),
      r'-?[0-9]+ does not fit', 'N does not fit') AS error_class
  FROM `{project}.{dataset}.customers_dlq`
  WHERE timestamp >= TIMESTAMP_SUB(CURRENT_TIMESTAMP(), INTERVAL 1 DAY)
)
GROUP BY stage, error_class
ORDER BY dead_letters DESC, stage, error_class
