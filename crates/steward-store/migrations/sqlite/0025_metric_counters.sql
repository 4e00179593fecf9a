-- /metrics from counters kept incrementally (SPEC §10), SQLite. Keep in step with
-- ../postgres/0025_metric_counters.sql.
--
-- metric_fold is how far the trail has been folded into the counters (one row);
-- Store::fold_metrics moves it under its lock in the transaction that adds the new
-- events' counts, so every event counts once across instances. Counters never go down,
-- also when pruning removes the events they counted.
CREATE TABLE metric_fold (
    id  INTEGER PRIMARY KEY NOT NULL CHECK (id = 1),
    seq INTEGER NOT NULL CHECK (seq >= 0)
) STRICT;
INSERT INTO metric_fold (id, seq) VALUES (1, 0);

-- Counts by family (decisions, outcomes, feedback, events, hard_blocks), event type,
-- level (-1: the event has none) and label.
CREATE TABLE metric_counts (
    family     TEXT NOT NULL,
    event_type TEXT NOT NULL,
    level      INTEGER NOT NULL,
    label      TEXT NOT NULL,
    count      INTEGER NOT NULL,
    PRIMARY KEY (family, event_type, level, label)
) STRICT;

-- Histograms by family (approval, rollback) and level: per bucket (the index of the first
-- upper bound that holds the duration, or the number of bounds past the last) the number
-- of observations and the sum of their durations in milliseconds.
CREATE TABLE metric_histograms (
    family TEXT NOT NULL,
    level  INTEGER NOT NULL,
    bucket INTEGER NOT NULL,
    count  INTEGER NOT NULL,
    sum_ms INTEGER NOT NULL,
    PRIMARY KEY (family, level, bucket)
) STRICT;
