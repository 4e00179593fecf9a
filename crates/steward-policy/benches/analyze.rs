//! Risk-engine benchmark: Steward's `analyze` against the same scoring written in Rego and
//! run by regorus. Results and method are in BENCHMARKS.md at the repository root.
//!
//! `cargo bench -p steward-policy --bench analyze -- --warm-up-time 1 --measurement-time 5`
//!
//! Setup (untimed) builds the corpus, Steward's analyses, the Rego inputs, the compiled Rego
//! VM and interpreter, and refuses to run if Rego and Steward disagree on any task: a speed
//! comparison between engines that compute different answers would mean nothing.

mod corpus;
mod rego_peer;

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use steward_policy::{Analysis, Facts, Policy, analyze, score};

fn analyze_benches(c: &mut Criterion) {
    let policy = Policy::builtin();
    let tasks = corpus::generate(corpus::SEED, corpus::SIZE);
    let analyses: Vec<Analysis> = tasks.iter().map(|t| analyze(t, &policy)).collect();
    let inputs: Vec<regorus::Value> = tasks
        .iter()
        .zip(&analyses)
        .map(|(task, analysis)| rego_peer::input(task, analysis))
        .collect();
    let mut vm = rego_peer::vm();
    let mut engine = rego_peer::engine();
    for (name, disagreements) in [
        (
            "VM",
            rego_peer::disagreements(&tasks, &analyses, &inputs, |i| rego_peer::eval(&mut vm, i)),
        ),
        (
            "interpreter",
            rego_peer::disagreements(&tasks, &analyses, &inputs, |i| {
                rego_peer::eval_interpreted(&mut engine, i)
            }),
        ),
    ] {
        assert!(
            disagreements.is_empty(),
            "Rego ({name}) and Steward disagree on {} of {} tasks:\n{}",
            disagreements.len(),
            tasks.len(),
            disagreements.join("\n")
        );
    }

    // Like for like with the Rego side: Steward's own scoring stage (`score`, which
    // `analyze` calls) on the same facts, built in setup from the same analyses.
    let facts: Vec<Facts> = analyses.iter().map(facts_of).collect();
    for (a, f) in analyses.iter().zip(&facts) {
        let s = score(f, &policy);
        assert_eq!(
            (s.total, s.level),
            (a.risk_assessment.total_risk_score, a.level()),
            "score disagrees with analyze for task {:?}",
            a.task_id
        );
    }

    let one = corpus::representative();
    let one_analysis = analyze(&one, &policy);
    let one_input = rego_peer::input(&one, &one_analysis);

    let mut group = c.benchmark_group("analyze");

    // Per-task figures: criterion divides the iteration time by the element count.
    group.throughput(Throughput::Elements(tasks.len() as u64));
    group.bench_function("steward/analyze", |b| {
        b.iter(|| {
            for task in &tasks {
                black_box(analyze(black_box(task), &policy));
            }
        });
    });
    group.bench_function("steward/score", |b| {
        b.iter(|| {
            for f in &facts {
                black_box(score(black_box(f), &policy));
            }
        });
    });
    group.bench_function("regorus/scoring", |b| {
        b.iter(|| {
            for input in &inputs {
                black_box(rego_peer::eval(&mut vm, black_box(input)));
            }
        });
    });
    group.bench_function("regorus/scoring_interpreter", |b| {
        b.iter(|| {
            for input in &inputs {
                black_box(rego_peer::eval_interpreted(&mut engine, black_box(input)));
            }
        });
    });

    group.throughput(Throughput::Elements(1));
    group.bench_function("steward/analyze_one", |b| {
        b.iter(|| analyze(black_box(&one), &policy));
    });
    group.bench_function("regorus/scoring_one", |b| {
        b.iter(|| rego_peer::eval(&mut vm, black_box(&one_input)));
    });
    group.finish();
}

/// The facts `analyze` scored, read back from its output (the same source the Rego inputs
/// are built from).
fn facts_of(a: &Analysis) -> Facts {
    let category = |i: usize| a.risk_assessment.factors[i].category.as_str();
    Facts {
        environment: a.environment_detected,
        reversibility: category(1).parse().expect("reversibility category"),
        data_sensitivity: category(2).parse().expect("data category"),
        impact_scope: category(3).parse().expect("scope category"),
        customer_impact: category(4).parse().expect("customer category"),
        read_only: a.signals.read_only,
        customer_facing: a.signals.customer_facing,
        risky_operation: !a.signals.risky_operations.is_empty() || a.signals.destructive,
        system_wide_component: a.signals.system_wide_component,
        services: a.signals.services,
        regions: a.signals.regions,
        compliance: a.signals.compliance_frameworks.iter().copied().collect(),
    }
}

criterion_group!(benches, analyze_benches);
criterion_main!(benches);
