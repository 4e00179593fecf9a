//! Classification of actions and matching of listed operations, with the property that
//! matching never widens a class.

use proptest::prelude::*;

use super::*;

fn policy() -> Policy {
    Policy::builtin()
}

#[track_caller]
fn classes(text: &str) -> Vec<&'static str> {
    classify_action(&policy(), text)
        .classes()
        .iter()
        .map(ActionClass::as_str)
        .collect()
}

#[test]
fn classifies_with_the_policy_vocabulary() {
    assert_eq!(classes("deploy api v2.1 to production"), ["change"]);
    assert_eq!(classes("restart api"), ["change"]);
    assert_eq!(classes("SELECT * FROM orders"), ["read"]);
    assert_eq!(classes("kubectl get pods -n prod"), ["read"]);
    assert_eq!(
        classes("DROP TABLE customers"),
        ["change", "schema_change", "data_deletion", "destructive"]
    );
    assert_eq!(
        classes("ALTER TABLE users ADD COLUMN email text"),
        ["change", "schema_change"]
    );
    assert_eq!(classes("terraform apply"), ["change", "infrastructure"]);
    assert_eq!(
        classes("kubectl delete pod api-1"),
        ["change", "infrastructure", "data_deletion"]
    );
    assert_eq!(classes("update firewall rules"), ["change", "security"]);
    // One row by key is a deletion, not a mass deletion.
    assert_eq!(
        classes("DELETE FROM users WHERE id = 4"),
        ["change", "data_deletion"]
    );
    assert_eq!(
        classes("delete from users"),
        ["change", "data_deletion", "destructive"]
    );
    // A read verb hiding a destructive statement is still destructive.
    assert_eq!(
        classes("select 1; drop table customers"),
        ["read", "schema_change", "data_deletion", "destructive"]
    );
    assert_eq!(classes(""), ["change"]);
}

#[test]
fn riskiest_class_and_requirement() {
    let p = policy();
    let drop = classify_action(&p, "DROP TABLE customers").classes();
    assert_eq!(drop.riskiest(), ActionClass::Destructive);
    let need = |text: &str, env| action_requirement(&p, classify_action(&p, text).classes(), env);
    assert_eq!(
        need("DROP TABLE customers", Environment::Production),
        ActionRequirement {
            level: Level::ADVANCED,
            permit_type: Some(PermitType::Destructive)
        }
    );
    assert_eq!(
        need("deploy api", Environment::Production),
        ActionRequirement {
            level: Level::STANDARD,
            permit_type: Some(PermitType::StandardProduction)
        }
    );
    assert_eq!(
        need("terraform apply", Environment::Unknown).permit_type,
        Some(PermitType::AdvancedProduction)
    );
    assert_eq!(
        need("kubectl get pods", Environment::Production).permit_type,
        Some(PermitType::ReadOnly)
    );
    assert_eq!(
        need("DROP TABLE customers", Environment::Staging),
        ActionRequirement {
            level: Level::STANDARD,
            permit_type: Some(PermitType::StandardProduction)
        }
    );
    assert_eq!(
        need("DROP TABLE customers", Environment::Development).permit_type,
        None
    );
}

#[track_caller]
fn matches(listed: &str, action: &str) -> bool {
    let p = policy();
    ListedOperation::new(&p, listed).matches(&classify_action(&p, action))
}

#[test]
fn a_listed_operation_matches_what_agents_send() {
    // Case, whitespace, punctuation and a full command line with flags.
    assert!(matches("deploy api", "deploy api"));
    assert!(matches("deploy api", "DEPLOY   Api"));
    assert!(matches(
        "deploy api",
        "deploy api --version 2.1 --namespace prod"
    ));
    assert!(matches("deploy", "deploy api v2.1"));
    assert!(matches(
        "kubectl apply -f api.yaml",
        "kubectl apply -f ./k8s/api.yaml --wait"
    ));
    assert!(matches(
        "ALTER TABLE users ADD COLUMN email",
        "alter table users add column email text not null"
    ));
    assert!(matches("SELECT * FROM orders", "select id from orders"));
}

#[test]
fn a_listed_operation_never_widens_a_class() {
    assert!(!matches("deploy api", "deploy api && DROP TABLE x"));
    assert!(!matches("deploy api", "deploy api; terraform destroy"));
    assert!(!matches("deploy api", "kubectl delete deployment api"));
    assert!(!matches("deploy api", "deploy payments"));
    assert!(!matches("deploy api", "redeploy api"));
    assert!(!matches("deploy api v2.1", "deploy api"));
    assert!(!matches(
        "SELECT * FROM orders",
        "select * from orders; delete from orders"
    ));
    assert!(!matches("", "deploy api"));
    assert!(!matches("deploy api", ""));
}

const WORDS: &[&str] = &[
    "deploy",
    "api",
    "v2",
    "1",
    "restart",
    "drop",
    "table",
    "customers",
    "select",
    "from",
    "delete",
    "where",
    "id",
    "=",
    "4",
    "kubectl",
    "get",
    "apply",
    "terraform",
    "destroy",
    "firewall",
    "alter",
    "add",
    "column",
    "truncate",
    "rm",
    "-rf",
    "&&",
    ";",
    "--force",
    "iam",
    "DROP",
    "TABLE",
    "Deploy",
    "  ",
    "migration",
    "purge",
    "list",
    "pods",
];

fn text() -> impl Strategy<Value = String> {
    proptest::collection::vec(proptest::sample::select(WORDS), 0..8).prop_map(|w| w.join(" "))
}

proptest! {
    // INVARIANT: a match never widens a class.
    #[test]
    fn matching_never_widens_a_class(listed in text(), action in text()) {
        let p = policy();
        let listed = ListedOperation::new(&p, &listed);
        let action = classify_action(&p, &action);
        if listed.matches(&action) {
            prop_assert!(action.classes().is_subset_of(listed.classes()));
        }
    }

    // Appending anything to a command that matches never lets in a class the listed
    // operation does not have.
    #[test]
    fn a_suffix_never_smuggles_a_class(listed in text(), suffix in text()) {
        let p = policy();
        let op = ListedOperation::new(&p, &listed);
        let action = classify_action(&p, &format!("{listed} {suffix}"));
        if op.matches(&action) {
            prop_assert!(action.classes().is_subset_of(op.classes()));
        }
        let extra = classify_action(&p, &suffix).classes();
        let widened = extra.iter().any(|c| c != ActionClass::Read && c != ActionClass::Change
            && !op.classes().contains(c));
        if widened {
            prop_assert!(!op.matches(&action));
        }
    }

    // An operation matches itself, whatever its case and spacing.
    #[test]
    fn an_operation_matches_itself(listed in text()) {
        let p = policy();
        let op = ListedOperation::new(&p, &listed);
        let shouted = classify_action(&p, &listed.to_uppercase().replace(' ', "   "));
        let same = classify_action(&p, &listed);
        if !op.tokens.is_empty() && same.classes() == shouted.classes() {
            prop_assert!(op.matches(&shouted));
        }
    }
}
