-- How each pool was split in an allocation: the explanation of shared cost.
CREATE TABLE allocation_shares (
    month           TEXT    NOT NULL REFERENCES allocation_runs (month) ON DELETE CASCADE,
    pool            TEXT    NOT NULL,
    method          TEXT    NOT NULL,
    currency        TEXT    NOT NULL,
    target          TEXT    NOT NULL,
    target_is_pool  BOOLEAN NOT NULL,
    weight          TEXT NOT NULL,
    total_weight    TEXT NOT NULL,
    amount          TEXT NOT NULL,
    fallback        TEXT    NOT NULL
);
CREATE INDEX allocation_shares_month ON allocation_shares (month);
