-- Delivery errors written by earlier versions could name a webhook URL (the HTTP client's
-- error text includes it), and a Slack or Teams webhook URL is a credential. New errors are
-- redacted when they are made (alerts::channels::Redactor); old ones cannot be, since the
-- URLs are only in the configuration, so every stored error that names a URL is replaced.
-- Twin: ../postgres/0013_redact_delivery_errors.sql.
UPDATE alert_deliveries
SET last_error = 'error text removed by migration 0013: it named a URL'
WHERE last_error LIKE '%://%';
