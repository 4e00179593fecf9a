-- The per-worker event index, folded after the commit (issue 10), PostgreSQL. Keep in
-- step with ../sqlite/0026_worker_event_index.sql.
--
-- An index on audit_events (worker_id, seq) costs every append one page per distinct
-- worker in its batch: with a fleet of 1 024 workers, durable appends ran at less than half
-- what they do without it (BENCHMARKS.md, "Issue 10, fifth session"). The pairs are
-- folded instead, in bulk, by the transaction that folds the /metrics counters
-- (Store::fold_metrics, under metric_fold's cursor), and a query by worker folds first,
-- so it sees every event up to the head.
CREATE TABLE audit_worker_events (
    worker_id TEXT NOT NULL,
    seq       BIGINT NOT NULL,
    PRIMARY KEY (worker_id, seq)
);

-- The events the cursor already passed are indexed now; the next fold takes the rest.
INSERT INTO audit_worker_events (worker_id, seq)
SELECT worker_id, seq FROM audit_events
WHERE worker_id IS NOT NULL AND seq <= (SELECT seq FROM metric_fold WHERE id = 1);

DROP INDEX audit_events_worker;
