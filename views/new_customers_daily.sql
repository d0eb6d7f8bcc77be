-- New customers per sign-up day (UTC date of registered_at) and country, each customer counted once.
--
-- "Per day" is the day the customer registered (registered.date, the sign-up event), not the day the
-- pipeline ingested the row: a replayed or late message still counts on its sign-up day. The table is
-- partitioned by ingested_at, not registered_at, so a query on this view reads the whole table; for
-- a cheap "today so far" count query customers with an ingested_at filter instead.
-- A customer can land twice (a copy after the pipeline's duplicate window): the first row wins.
-- WHERE TRUE: BigQuery has rejected a QUALIFY without a WHERE, GROUP BY or HAVING clause; harmless where it does not.
SELECT
  DATE(registered_at) AS signup_date,
  country,
  COUNT(*) AS new_customers
FROM (
  SELECT customer_id, registered_at, country
  FROM `{project}.{dataset}.customers`
  WHERE TRUE
  QUALIFY ROW_NUMBER() OVER (PARTITION BY customer_id ORDER BY ingested_at, message_id) = 1
)
GROUP BY signup_date, country
