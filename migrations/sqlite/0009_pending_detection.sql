-- Months whose anomaly detection is owed: set when their data changes,
-- cleared when a detection over them succeeds, so a failed detection is
-- retried by the next run even if that run changes nothing.
CREATE TABLE anomaly_pending_months (
    month  TEXT PRIMARY KEY
);
