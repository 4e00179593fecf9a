//! The refusal table: one spelling and one 4xx status per rule.

use std::collections::BTreeSet;

use super::Refusal;

#[test]
fn every_code_is_spelled_once_and_every_status_is_a_4xx() {
    let mut codes = BTreeSet::new();
    for &rule in Refusal::ALL {
        assert!(codes.insert(rule.code()), "`{}` twice", rule.code());
        assert!(
            (400..500).contains(&rule.status()),
            "`{}` answers {}",
            rule.code(),
            rule.status()
        );
        assert!(!rule.meaning().is_empty());
    }
}

#[test]
fn a_code_names_its_rule_and_statuses_match_what_clients_see() {
    // A few rows pinned: the ones whose status a client acts on.
    let cases = [
        (Refusal::SegregationOfDuties, "segregation_of_duties", 403),
        (Refusal::OneVotePerPerson, "one_vote_per_person", 409),
        (Refusal::MissingEvidence, "missing_evidence", 422),
        (Refusal::PermitNotLive, "permit_not_live", 409),
        (Refusal::RateLimited, "rate_limited", 429),
        (
            Refusal::AuthenticationRequired,
            "authentication_required",
            401,
        ),
    ];
    for (rule, code, status) in cases {
        assert_eq!((rule.code(), rule.status()), (code, status));
        assert_eq!(rule.to_string(), code);
    }
}
