-- Per-subject keys for personal data in audit events (crypto-shredding). Keep in step with
-- ../postgres/0006_erasure.sql: same table, same columns, same CHECKs.
--
-- Personal values in an event's `data` are stored encrypted under their subject's key
-- (XChaCha20-Poly1305); the chain hashes the ciphertext. Erasing a subject destroys its
-- key (key = NULL, erased_at set): the ciphertext stays, and still verifies, but can never
-- be read again. A subject erased before its first event gets an erased row, so later
-- events carry only an erased marker.
CREATE TABLE subject_keys (
    subject    TEXT PRIMARY KEY NOT NULL,
    key        BLOB CHECK (key IS NULL OR length(key) = 32),
    created_at INTEGER NOT NULL,
    erased_at  INTEGER,
    CHECK ((key IS NULL) = (erased_at IS NOT NULL))
) STRICT;
