//! Certification timers through `Store::run_timers` (SPEC §5): recertification grace, then
//! expiry; probation end; each fired once however often the timers run, and nothing fired
//! for a certification out of force. (Permit timers are tested over HTTP in the server.)

use steward_permits::TimerKind;
use steward_policy::{CertificationStatus, Role};
use steward_store::{FiredTimer, PrincipalKind, Store, TimerSubject};

use crate::support::{admin, execute, principal, store_test};

const T0: i64 = 1_800_000_000_000;
const DAY: i64 = 86_400_000;

/// Inserts a worker row with the given certification, owned by a fresh human; its
/// recertification and probation end, when it has them, are that many days after `T0`.
async fn worker(
    store: &Store,
    id: &str,
    level: u8,
    status: &str,
    recertify_by_day: Option<i64>,
    probation_until_day: Option<i64>,
) {
    let owner_name = format!("owner-of-{id}");
    let roles = [Role::EngineeringManager];
    let owner = principal(store, &owner_name, PrincipalKind::Human, &roles).await;
    let sql = |day: Option<i64>| day.map_or("NULL".to_owned(), |day| (T0 + day * DAY).to_string());
    execute(
        store,
        &format!(
            "INSERT INTO workers (id, display_name, owner_id, principal_id, level, status, domains, \
             level_granted_at, recertify_by, probation_until, stats, version, created_at, updated_at) \
             VALUES ('{id}', '{id}', '{}', NULL, {level}, '{status}', '[]', {T0}, {}, {}, \
             '{{\"successes_at_level\":0,\"failures_at_level\":0,\"successes_by_level\":[0,0,0,0,0],\
             \"last_incident_at\":null,\"safety_violations\":0,\"consecutive_union_failures\":0}}', \
             1, {T0}, {T0})",
            owner.id,
            sql(recertify_by_day),
            sql(probation_until_day),
        ),
    )
    .await
    .expect("insert worker");
}

/// Runs the timers at `now` and returns the ones that fired.
async fn fired(store: &Store, now: i64) -> Vec<FiredTimer> {
    store.run_timers(now).await.expect("run timers").fired
}

/// Worker `id`'s certification status.
async fn status(store: &Store, id: &str) -> CertificationStatus {
    store.worker(id).await.expect("worker").status
}

/// The event types recorded about worker `id`, in order.
async fn trail(store: &Store, id: &str) -> Vec<String> {
    store
        .events(1, 10_000)
        .await
        .expect("events")
        .into_iter()
        .filter(|e| e.subject.worker_id.as_deref() == Some(id))
        .map(|e| e.event_type)
        .collect()
}

store_test!(
    recertification_grace_then_expiry_fire_once_each,
    |store: Store| async move {
        worker(&store, "wk-2", 2, "active", Some(365), None).await;

        assert!(fired(&store, T0 + 365 * DAY - 1).await.is_empty());
        for now in [365, 365, 370, 378] {
            store.run_timers(T0 + now * DAY).await.unwrap();
        }
        assert_eq!(trail(&store, "wk-2").await, ["worker.certification_grace"]);
        let grace = store.events(1, 10_000).await.unwrap().pop().unwrap();
        assert_eq!(grace.data["recertify_by_ms"], T0 + 365 * DAY);
        assert_eq!(grace.data["grace_until_ms"], T0 + 379 * DAY);
        assert_eq!(grace.actor.id, "steward");
        // Inside the grace the certification is still in force.
        assert_eq!(status(&store, "wk-2").await, CertificationStatus::Active);

        // Past the 14-day grace: expired, a hard block, once.
        let report = store.run_timers(T0 + 379 * DAY).await.unwrap();
        assert_eq!(report.fired.len(), 1, "{report:?}");
        assert_eq!(report.fired[0].timer, TimerKind::CertificationExpiry);
        store.run_timers(T0 + 400 * DAY).await.unwrap();
        assert_eq!(status(&store, "wk-2").await, CertificationStatus::Expired);
        assert_eq!(
            trail(&store, "wk-2").await,
            ["worker.certification_grace", "worker.expired"]
        );
        let expired = store.events(1, 10_000).await.unwrap().pop().unwrap();
        assert_eq!(expired.data["automatic"], true);
        assert_eq!(expired.data["from_status"], "active");
        assert_eq!(
            store
                .fired_timers(TimerSubject::Worker, "wk-2")
                .await
                .unwrap(),
            [
                (
                    TimerKind::CertificationGrace,
                    T0 + 365 * DAY,
                    T0 + 365 * DAY
                ),
                (
                    TimerKind::CertificationExpiry,
                    T0 + 379 * DAY,
                    T0 + 379 * DAY
                ),
            ]
        );

        // A human recertifies: a new date, so a new grace timer later, not a repeat now.
        let renewed = store
            .recertify(&admin(), "wk-2", "reviewed", T0 + 400 * DAY)
            .await
            .unwrap();
        assert_eq!(renewed.status, CertificationStatus::Active);
        assert!(fired(&store, T0 + 400 * DAY).await.is_empty());
        let report = store.run_timers(T0 + 765 * DAY).await.unwrap();
        assert_eq!(report.fired.len(), 1);
        assert_eq!(report.fired[0].due_at_ms, T0 + 765 * DAY);
        store.verify_audit_chain().await.unwrap();
    }
);

store_test!(
    probation_ends_once_and_levels_three_and_four_expire_after_seven_days,
    |store: Store| async move {
        worker(&store, "wk-3", 3, "probationary", Some(90), Some(60)).await;
        assert!(fired(&store, T0 + 60 * DAY - 1).await.is_empty());
        store.run_timers(T0 + 60 * DAY).await.unwrap();
        store.run_timers(T0 + 61 * DAY).await.unwrap();
        assert_eq!(status(&store, "wk-3").await, CertificationStatus::Active);
        assert_eq!(trail(&store, "wk-3").await, ["worker.probation_ended"]);
        let ended = store.events(1, 10_000).await.unwrap().pop().unwrap();
        assert_eq!(ended.data["from_status"], "probationary");
        assert_eq!(ended.data["to_status"], "active");

        store.run_timers(T0 + 90 * DAY).await.unwrap();
        store.run_timers(T0 + 97 * DAY - 1).await.unwrap();
        assert_eq!(status(&store, "wk-3").await, CertificationStatus::Active);
        store.run_timers(T0 + 97 * DAY).await.unwrap();
        assert_eq!(status(&store, "wk-3").await, CertificationStatus::Expired);
        assert_eq!(
            trail(&store, "wk-3").await,
            [
                "worker.probation_ended",
                "worker.certification_grace",
                "worker.expired"
            ]
        );
    }
);

store_test!(
    certifications_out_of_force_and_level_zero_have_no_timers,
    |store: Store| async move {
        worker(&store, "wk-s", 2, "suspended", Some(0), Some(0)).await;
        worker(&store, "wk-r", 3, "revoked", Some(0), None).await;
        worker(&store, "wk-0", 0, "active", None, None).await;
        let head = store.audit_head().await.unwrap();
        let report = store.run_timers(T0 + 1000 * DAY).await.unwrap();
        assert_eq!(report, Default::default());
        assert_eq!(store.audit_head().await.unwrap(), head);
        assert_eq!(status(&store, "wk-s").await, CertificationStatus::Suspended);
    }
);

store_test!(
    a_worker_changed_by_hand_is_not_fired_twice_or_wrongly,
    |store: Store| async move {
        // Probation over, but a human ended it before the timer ran: nothing left to do.
        worker(&store, "wk-h", 2, "probationary", Some(365), Some(30)).await;
        store
            .end_probation(&admin(), "wk-h", T0 + 30 * DAY)
            .await
            .unwrap();
        let head = store.audit_head().await.unwrap();
        assert!(fired(&store, T0 + 31 * DAY).await.is_empty());
        assert_eq!(store.audit_head().await.unwrap(), head);
        // Two handles on one database running the timers at once: one expiry.
        let other = store.clone();
        let (a, b) = tokio::join!(
            store.run_timers(T0 + 380 * DAY),
            other.run_timers(T0 + 380 * DAY)
        );
        assert_eq!(a.unwrap().fired.len() + b.unwrap().fired.len(), 1);
        assert_eq!(
            trail(&store, "wk-h").await,
            ["worker.probation_ended", "worker.expired"]
        );
    }
);
