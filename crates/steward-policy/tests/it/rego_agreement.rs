//! The benchmark's Rego peer (`benches/scoring.rego`) agrees with Steward on every corpus
//! task, and the corpus covers the environments, categories, levels and floors it claims to.

use std::collections::BTreeSet;

use steward_policy::{
    Analysis, CustomerImpact, DataSensitivity, Environment, ImpactScope, Policy, Reversibility,
    Task, analyze,
};

use crate::{corpus, rego_peer};

fn corpus_with_analyses() -> (Vec<Task>, Vec<Analysis>) {
    let policy = Policy::builtin();
    let mut tasks = corpus::generate(corpus::SEED, corpus::SIZE);
    tasks.push(corpus::representative());
    let analyses = tasks.iter().map(|t| analyze(t, &policy)).collect();
    (tasks, analyses)
}

#[test]
fn rego_peer_agrees_with_steward_on_total_risk_level_and_level() {
    let (tasks, analyses) = corpus_with_analyses();
    let inputs: Vec<regorus::Value> = tasks
        .iter()
        .zip(&analyses)
        .map(|(task, analysis)| rego_peer::input(task, analysis))
        .collect();
    let mut vm = rego_peer::vm();
    let mut engine = rego_peer::engine();

    let on_vm =
        rego_peer::disagreements(&tasks, &analyses, &inputs, |i| rego_peer::eval(&mut vm, i));
    let on_interpreter = rego_peer::disagreements(&tasks, &analyses, &inputs, |i| {
        rego_peer::eval_interpreted(&mut engine, i)
    });

    assert!(
        on_vm.is_empty() && on_interpreter.is_empty(),
        "of {} tasks, {} disagree on the VM and {} on the interpreter:\n{}",
        tasks.len(),
        on_vm.len(),
        on_interpreter.len(),
        on_vm
            .iter()
            .chain(&on_interpreter)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
}

#[test]
fn corpus_covers_every_environment_category_and_level() {
    let (tasks, analyses) = corpus_with_analyses();

    let seen: BTreeSet<String> = analyses
        .iter()
        .flat_map(|a| {
            let factors = a
                .risk_assessment
                .factors
                .iter()
                .map(|f| format!("{:?}={}", f.factor, f.category));
            factors.chain([
                format!("level={}", a.level()),
                format!("detected={}", a.environment_detected),
                format!("risk_level={}", a.risk_assessment.risk_level),
            ])
        })
        .collect();
    let mut expected: Vec<String> = Vec::new();
    expected.extend(Environment::ALL.iter().map(|e| format!("detected={e}")));
    expected.extend(Environment::ALL.iter().map(|e| format!("Environment={e}")));
    expected.extend(
        Reversibility::ALL
            .iter()
            .map(|r| format!("Reversibility={r}")),
    );
    expected.extend(
        DataSensitivity::ALL
            .iter()
            .map(|d| format!("DataSensitivity={d}")),
    );
    expected.extend(ImpactScope::ALL.iter().map(|s| format!("ImpactScope={s}")));
    expected.extend(
        CustomerImpact::ALL
            .iter()
            .map(|c| format!("CustomerImpact={c}")),
    );
    expected.extend((0..=4).map(|l| format!("level={l}")));
    let missing: Vec<&String> = expected.iter().filter(|e| !seen.contains(*e)).collect();
    assert!(missing.is_empty(), "the corpus never produces {missing:?}");

    let words: Vec<usize> = tasks
        .iter()
        .filter_map(|t| t.description.as_deref())
        .map(|d| d.split_whitespace().count())
        .collect();
    assert_eq!(words.len(), tasks.len(), "every task has a description");
    assert!(
        words.iter().all(|n| (5..=30).contains(n)),
        "descriptions are 5 to 30 words, got {:?}..={:?}",
        words.iter().min(),
        words.iter().max()
    );
}

#[test]
fn corpus_fires_every_floor_of_the_rego_peer() {
    let (tasks, analyses) = corpus_with_analyses();
    let mut engine = rego_peer::engine();

    let mut fired = BTreeSet::new();
    for (task, analysis) in tasks.iter().zip(&analyses) {
        engine.set_input(rego_peer::input(task, analysis));
        let floors = engine
            .eval_rule("data.steward.floors".to_owned())
            .expect("floors evaluate");
        for floor in floors.as_set().expect("floors is a set") {
            let rule = floor["rule"].as_string().expect("a floor names its rule");
            fired.insert(rule.as_ref().to_owned());
        }
    }

    let all = [
        "compliance",
        "customer_facing_production",
        "multi_region_production",
        "multi_service_production",
        "production_read_only",
        "production_write",
        "risky_operation_production",
        "risky_operation_staging",
        "sensitive_data",
        "system_wide_production",
    ];
    let missing: Vec<&str> = all.into_iter().filter(|r| !fired.contains(*r)).collect();
    assert!(missing.is_empty(), "no corpus task fires {missing:?}");
}
