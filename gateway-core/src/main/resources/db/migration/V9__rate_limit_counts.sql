-- Per-second request and token counts of each gateway replica per rate-limit window key (k:<key id>,
-- u:<user>, t:<tenant>, p:<partner>, ip:<address>), so every replica enforces a limit over what all
-- of them admitted. Each replica writes only its own rows and reads the sum of the others'. Rows older
-- than the 60-second window are deleted. UNLOGGED: the counts are worth a minute at most, so they skip
-- the write-ahead log (a crash of PostgreSQL empties the table, which only forgets that minute).
CREATE UNLOGGED TABLE rate_limit_counts (
    window_key text   NOT NULL,
    second     bigint NOT NULL,
    replica    text   NOT NULL,
    requests   bigint NOT NULL,
    tokens     bigint NOT NULL,
    PRIMARY KEY (window_key, second, replica)
);
CREATE INDEX rate_limit_counts_second ON rate_limit_counts (second);
