-- Pruned history is one prefix of manifests (SPEC §9), SQLite. Keep in step with
-- ../postgres/0024_contiguous_manifests.sql.
--
-- A manifest is accepted only right after the one before it (or at seq 1 when there is
-- none), linked to its last hash; and the audit_events delete trigger accepts only a
-- manifest contiguous with the one before it, so one forged row no longer opens a hole
-- in the middle of the trail. (A forged manifest that is contiguous still fails
-- verification: its signature does not verify.)
CREATE TRIGGER audit_manifests_contiguous BEFORE INSERT ON audit_manifests
WHEN NEW.first_seq <> 1 + COALESCE((SELECT MAX(last_seq) FROM audit_manifests), 0)
  OR (NEW.first_seq > 1 AND NOT EXISTS (
        SELECT 1 FROM audit_manifests p
        WHERE p.last_seq = NEW.first_seq - 1 AND p.last_hash = NEW.prev_hash))
BEGIN
    SELECT RAISE(ABORT, 'audit_manifests: a manifest must start right after the one before it and link to it');
END;

DROP TRIGGER audit_events_no_delete;
CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
WHEN NOT EXISTS (
    SELECT 1 FROM audit_manifests m
    WHERE m.first_seq <= OLD.seq AND m.last_seq >= OLD.seq
      AND (m.first_seq = 1 OR EXISTS (
            SELECT 1 FROM audit_manifests p
            WHERE p.last_seq = m.first_seq - 1 AND p.last_hash = m.prev_hash))
)
BEGIN
    SELECT RAISE(ABORT, 'audit_events is append-only: only a range covered by a manifest contiguous with the one before it may be pruned');
END;
