-- One row per customer with the attributes marketing segments on: age band, gender, country, nationality, days since registration.
--
-- No contact details or names: join customers on customer_id where a campaign needs them.
-- Age is in whole years on today's date (UTC); age_band is NULL-safe ('unknown' without a birth date).
-- A customer can land twice (a copy after the pipeline's duplicate window): the first row wins.
-- WHERE TRUE: BigQuery has rejected a QUALIFY without a WHERE, GROUP BY or HAVING clause; harmless where it does not.
SELECT
  customer_id,
  CASE
    WHEN age IS NULL THEN 'unknown'
    WHEN age < 18 THEN 'under 18'
    WHEN age < 25 THEN '18-24'
    WHEN age < 35 THEN '25-34'
    WHEN age < 45 THEN '35-44'
    WHEN age < 55 THEN '45-54'
    WHEN age < 65 THEN '55-64'
    ELSE '65+'
  END AS age_band,
  age,
  gender,
  country,
  nationality,
  registered_at,
  DATE_DIFF(CURRENT_DATE(), DATE(registered_at), DAY) AS days_since_registration
FROM (
  SELECT
    customer_id,
    gender,
    country,
    nationality,
    registered_at,
    -- Years between the two dates, minus one when this year's birthday is still to come.
    DATE_DIFF(CURRENT_DATE(), date_of_birth, YEAR)
      - IF(FORMAT_DATE('%m%d', CURRENT_DATE()) < FORMAT_DATE('%m%d', date_of_birth), 1, 0) AS age
  FROM `{project}.{dataset}.customers`
  WHERE TRUE
  QUALIFY ROW_NUMBER() OVER (PARTITION BY customer_id ORDER BY ingested_at, message_id) = 1
)
