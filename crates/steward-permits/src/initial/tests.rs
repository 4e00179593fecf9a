//! Initial certification: who may have one, what it needs, and what it grants.

use steward_policy::{CertificationStatus, Level, Role};

use super::*;
use crate::approval::{Candidate, Parties, check_approver};

const T0: Timestamp = Timestamp(1_800_000_000_000);

fn request(level: u8) -> InitialCertification {
    InitialCertification {
        target: Level::new(level).unwrap(),
        justification: "ran 340 deploys for payments in 2026 without an incident".into(),
        prior_record: PriorRecord {
            document: None,
            link: Some("https://ci.example.com/bots/deploy-bot".into()),
            prior_operations: 340,
        },
    }
}

fn approval(id: &str, role: Role) -> RecordedApproval {
    RecordedApproval {
        principal_id: id.into(),
        role,
    }
}

#[test]
fn only_a_worker_without_certification_history_is_certified_initially() {
    let fresh = WorkerRecord::registered(T0);
    assert_eq!(check_initial_certification(&fresh, &request(2)), Ok(()));
    let promoted = WorkerRecord {
        level: Level::new(1).unwrap(),
        ..fresh.clone()
    };
    assert!(matches!(
        check_initial_certification(&promoted, &request(2)),
        Err(InitialCertificationError::HasHistory { .. })
    ));
    let suspended = WorkerRecord {
        status: CertificationStatus::Suspended,
        ..fresh.clone()
    };
    assert!(matches!(
        check_initial_certification(&suspended, &request(2)),
        Err(InitialCertificationError::HasHistory { .. })
    ));
    assert_eq!(
        check_initial_certification(&fresh, &request(0)),
        Err(InitialCertificationError::BadLevel(Level::NON_UNION))
    );
}

#[test]
fn a_justification_and_evidence_of_the_prior_record_are_required() {
    let fresh = WorkerRecord::registered(T0);
    let mut short = request(2);
    short.justification = "trust me".into();
    assert_eq!(
        check_initial_certification(&fresh, &short),
        Err(InitialCertificationError::Justification)
    );
    let mut no_evidence = request(2);
    no_evidence.prior_record.link = Some("  ".into());
    assert_eq!(
        check_initial_certification(&fresh, &no_evidence),
        Err(InitialCertificationError::PriorRecord)
    );
    let mut no_count = request(2);
    no_count.prior_record.prior_operations = 0;
    assert_eq!(
        check_initial_certification(&fresh, &no_count),
        Err(InitialCertificationError::PriorRecord)
    );
    let mut document_only = request(2);
    document_only.prior_record.link = None;
    document_only.prior_record.document = Some("export of 340 runs, 0 incidents".into());
    assert_eq!(check_initial_certification(&fresh, &document_only), Ok(()));
}

#[test]
fn approvals_are_a_promotions_and_certification_starts_the_levels_probation() {
    let fresh = WorkerRecord::registered(T0);
    // Level 3: an engineering director and a security lead, two distinct people.
    let three = Level::new(3).unwrap();
    assert_eq!(
        initial_certification_approvals(three),
        promotion_approvals(three)
    );
    let one = [approval("dir", Role::EngineeringDirector)];
    assert_eq!(certify_initially(&fresh, three, &one, T0), None);
    let both = [
        approval("dir", Role::EngineeringDirector),
        approval("sec", Role::SecurityLead),
    ];
    let certified = certify_initially(&fresh, three, &both, T0).unwrap();
    assert_eq!(certified.level, three);
    assert_eq!(certified.status, CertificationStatus::Probationary);
    assert_eq!(certified.probation_until, Some(T0.plus_days(60)));
    assert_eq!(certified.level_granted_at, T0);
    assert!(certified.recertify_by.is_some());
    // Level 1 has no probation.
    let level_one = Level::new(1).unwrap();
    let em = [approval("em", Role::EngineeringManager)];
    let certified = certify_initially(&fresh, level_one, &em, T0).unwrap();
    assert_eq!(
        (certified.status, certified.probation_until),
        (CertificationStatus::Active, None)
    );
}

#[test]
fn whoever_asked_for_it_and_the_owner_may_not_approve_it() {
    let rules = initial_certification_approvals(Level::STANDARD).requirements();
    let parties = Parties {
        requester: "asker".into(),
        worker_id: "agent".into(),
        worker_owner: "owner".into(),
    };
    let em = |id: &str| Candidate {
        principal_id: id.into(),
        human: true,
        roles: vec![Role::EngineeringManager],
    };
    for id in ["asker", "owner", "agent"] {
        assert!(
            check_approver(&rules, &parties, &em(id), Role::EngineeringManager, &[]).is_err(),
            "{id} may not approve"
        );
    }
    assert_eq!(
        check_approver(
            &rules,
            &parties,
            &em("alice"),
            Role::EngineeringManager,
            &[]
        ),
        Ok(())
    );
}
