-- Keep in step with ../sqlite/0011_timers.sql.
--
-- The fired-timers ledger. A timer is (subject, timer kind, due_at), with due_at derived
-- from the subject's stored times (a renewal moves expires_at, so its warnings are new
-- timers). Firing one inserts its row in the same transaction as its effect and audit
-- event; the primary key is the claim, so when several Steward instances run the timers
-- at once exactly one wins and the others skip.
CREATE TABLE timer_firings (
    subject_kind TEXT NOT NULL CHECK (subject_kind IN ('permit', 'worker')),
    subject_id   TEXT NOT NULL,
    timer        TEXT NOT NULL
                 CHECK (timer IN ('approval_overdue', 'request_expiry', 'expiry_warning_30',
                                  'expiry_warning_15', 'expiry_warning_5', 'permit_expiry',
                                  'grace_start', 'grace_end', 'certification_grace',
                                  'certification_expiry', 'probation_end')),
    due_at       BIGINT NOT NULL,
    fired_at     BIGINT NOT NULL,
    PRIMARY KEY (subject_kind, subject_id, timer, due_at)
);
CREATE INDEX timer_firings_fired_at ON timer_firings (fired_at);
