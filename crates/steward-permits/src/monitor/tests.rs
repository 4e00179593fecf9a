//! Monitoring triggers: the SPEC §7 defaults at their edges (119 s does not fire, 120 s
//! does), per-permit settings, and the three properties: a breach shorter than its window
//! never fires, a sustained one always fires, healthy samples never fire.

use proptest::prelude::*;
use serde_json::json;

use super::*;
use crate::constraints::PermitConstraints;

const T0: i64 = 1_000_000;

fn at(seconds: i64) -> Timestamp {
    Timestamp(T0 + seconds * 1_000)
}

fn err(seconds: i64, rate: f64) -> Sample {
    Sample {
        at: at(seconds),
        error_rate: Some(rate),
        latency_p99_ms: None,
        health_ok: None,
    }
}

fn p99(seconds: i64, ms: f64) -> Sample {
    Sample {
        at: at(seconds),
        error_rate: None,
        latency_p99_ms: Some(ms),
        health_ok: None,
    }
}

fn health(seconds: i64, ok: bool) -> Sample {
    Sample {
        at: at(seconds),
        error_rate: None,
        latency_p99_ms: None,
        health_ok: Some(ok),
    }
}

#[test]
fn error_rate_fires_at_120_seconds_not_119() {
    let c = TriggerConfig::default();
    assert_eq!(evaluate(&c, &[err(0, 0.05), err(119, 0.05)]), None);
    let b = evaluate(&c, &[err(0, 0.05), err(60, 0.02), err(120, 0.03)]).expect("fires");
    assert_eq!(b.trigger, TriggerKind::ErrorRate);
    assert_eq!(b.observed, 0.03);
    assert_eq!(b.limit, 0.01);
    assert_eq!(b.window_seconds, 120);
    assert_eq!(b.since, at(0));
    assert_eq!(b.sustained_ms, 120_000);
}

#[test]
fn a_healthy_sample_ends_the_run() {
    let c = TriggerConfig::default();
    // At the limit is not above it.
    let s = [err(0, 0.05), err(60, 0.01), err(120, 0.05), err(239, 0.05)];
    assert_eq!(evaluate(&c, &s), None);
    let mut s = s.to_vec();
    s.push(err(240, 0.05));
    assert_eq!(evaluate(&c, &s).map(|b| b.since), Some(at(120)));
}

#[test]
fn samples_without_the_metric_neither_extend_nor_end_a_run() {
    let c = TriggerConfig::default();
    let s = [err(0, 0.5), health(60, true), p99(90, 10.0), err(120, 0.5)];
    assert_eq!(
        evaluate(&c, &s).map(|b| b.trigger),
        Some(TriggerKind::ErrorRate)
    );
}

#[test]
fn latency_fires_after_300_seconds() {
    let c = TriggerConfig::default();
    assert_eq!(evaluate(&c, &[p99(0, 900.0), p99(299, 900.0)]), None);
    let b = evaluate(&c, &[p99(0, 900.0), p99(300, 501.0)]).expect("fires");
    assert_eq!(b.trigger, TriggerKind::LatencyP99);
    assert_eq!(b.limit, 500.0);
    assert_eq!(b.window_seconds, 300);
}

#[test]
fn three_consecutive_failed_health_checks_fire() {
    let c = TriggerConfig::default();
    let s = [
        health(0, false),
        health(10, false),
        health(20, true),
        health(30, false),
        health(40, false),
    ];
    assert_eq!(evaluate(&c, &s), None);
    let b = evaluate(
        &c,
        &[health(0, false), health(10, false), health(20, false)],
    )
    .expect("fires");
    assert_eq!(b.trigger, TriggerKind::HealthChecks);
    assert_eq!(b.observed, 3.0);
    assert_eq!(b.limit, 3.0);
}

#[test]
fn an_earlier_stamp_counts_as_the_latest_time() {
    let c = TriggerConfig::default();
    let mut state = MonitorState::default();
    assert!(observe(&c, &mut state, &err(100, 0.5)).is_empty());
    assert!(observe(&c, &mut state, &err(50, 0.5)).is_empty());
    assert_eq!(state.last_sample_at, Some(at(100)));
    assert_eq!(state.error_breach_since, Some(at(100)));
}

#[test]
fn settings_come_from_the_permit_constraints() {
    let stored = json!({
        "max_error_rate": 0.05, "max_latency_p99_ms": 250, "health_check_failure_limit": 5,
        "error_rate_window_seconds": 30, "latency_window_seconds": 60,
    });
    let c = PermitConstraints::from_stored(&stored.to_string()).triggers();
    assert_eq!(
        c,
        TriggerConfig {
            max_error_rate: 0.05,
            error_rate_window_seconds: 30,
            max_latency_p99_ms: 250.0,
            latency_window_seconds: 60,
            health_check_failure_limit: 5,
        }
    );
    assert_eq!(evaluate(&c, &[err(0, 0.04), err(30, 0.04)]), None);
    assert!(evaluate(&c, &[err(0, 0.06), err(30, 0.06)]).is_some());
    // Absent or unusable settings take the defaults.
    assert_eq!(
        PermitConstraints::from_stored(
            &json!({"max_error_rate": "high", "health_check_failure_limit": 0}).to_string()
        )
        .triggers(),
        TriggerConfig::default()
    );
}

#[test]
fn settings_out_of_range_name_their_field() {
    let field = |c: TriggerConfig| c.validate().map_err(|e| e.field);
    let d = TriggerConfig::default();
    assert_eq!(field(d), Ok(()));
    assert_eq!(
        field(TriggerConfig {
            max_error_rate: 0.0,
            ..d
        }),
        Err("max_error_rate")
    );
    assert_eq!(
        field(TriggerConfig {
            max_error_rate: 1.5,
            ..d
        }),
        Err("max_error_rate")
    );
    assert_eq!(
        field(TriggerConfig {
            max_error_rate: f64::NAN,
            ..d
        }),
        Err("max_error_rate")
    );
    assert_eq!(
        field(TriggerConfig {
            max_latency_p99_ms: -1.0,
            ..d
        }),
        Err("max_latency_p99_ms")
    );
    assert_eq!(
        field(TriggerConfig {
            error_rate_window_seconds: 0,
            ..d
        }),
        Err("error_rate_window_seconds")
    );
    assert_eq!(
        field(TriggerConfig {
            latency_window_seconds: 3_601,
            ..d
        }),
        Err("latency_window_seconds")
    );
    assert_eq!(
        field(TriggerConfig {
            health_check_failure_limit: 0,
            ..d
        }),
        Err("health_check_failure_limit")
    );
}

#[test]
fn samples_out_of_range_are_refused() {
    assert_eq!(err(0, 1.2).validate(), Err(SampleError::ErrorRate));
    assert_eq!(err(0, f64::NAN).validate(), Err(SampleError::ErrorRate));
    assert_eq!(p99(0, -3.0).validate(), Err(SampleError::Latency));
    let empty = Sample {
        at: at(0),
        error_rate: None,
        latency_p99_ms: None,
        health_ok: None,
    };
    assert_eq!(empty.validate(), Err(SampleError::Empty));
    assert_eq!(health(0, false).validate(), Ok(()));
}

#[test]
fn rollback_slas_and_escalation_by_level() {
    let l = |v| Level::new(v).unwrap();
    assert_eq!([2, 3, 4].map(|v| rollback_sla_minutes(l(v))), [30, 15, 10]);
    assert_eq!(rollback_sla_minutes(l(1)), 30);
    assert!(rollback_within_sla(l(3), 15 * 60_000));
    assert!(!rollback_within_sla(l(3), 15 * 60_000 + 1));
    assert_eq!(
        rollback_escalation_roles(l(4)),
        &[Role::IncidentCommander, Role::Cto]
    );
    assert_eq!(
        rollback_escalation_roles(l(2)),
        &[Role::IncidentCommander, Role::EngineeringDirector]
    );
}

/// A constraint_breach revocation (or a monitor that tripped) makes the next authorize
/// answer `rollback_required`, ahead of every later permit check.
#[test]
fn a_fired_trigger_makes_authorize_require_rollback() {
    use crate::authorize::{Operation, PermitView, Rule, WorkerView, authorize};
    use crate::state::{PermitState, RevocationReason};
    use steward_policy::{CertificationStatus, Environment};
    let worker = WorkerView {
        level: Level::STANDARD,
        status: CertificationStatus::Active,
    };
    let op = Operation {
        environment: Environment::Production,
        action: &steward_policy::classify_action(&steward_policy::Policy::builtin(), "deploy"),
        service: Some("api"),
        region: None,
        method: "POST",
        read_only: false,
        critical: false,
        sensitive_data: false,
        tokens: 1,
    };
    let revoked = PermitView {
        worker_id: "someone-else",
        state: PermitState::Revoked,
        revocation_reason: Some(RevocationReason::ConstraintBreach),
        valid_from: at(0),
        expires_at: at(10),
        environment: Environment::Production,
        listed_operations: &[],
        allowed_classes: steward_policy::ActionClasses::of(&[steward_policy::ActionClass::Change]),
        allowed_services: &[],
        allowed_regions: &[],
        allowed_methods: None,
        forbidden_methods: &[],
        breached: false,
        tokens_used: 0,
        token_budget: 100,
    };
    let v = authorize(worker, &op, Some(&revoked), "w1", at(100));
    assert!(!v.allow);
    assert_eq!(v.rule, Rule::RollbackRequired);
    assert_eq!(v.rule.as_str(), "rollback_required");
    // Any other revocation reason is just a dead permit.
    let manual = PermitView {
        revocation_reason: Some(RevocationReason::Manual),
        ..revoked
    };
    assert_eq!(
        authorize(worker, &op, Some(&manual), "w1", at(100)).rule,
        Rule::PermitNotActive
    );
}

fn config() -> impl Strategy<Value = TriggerConfig> {
    (
        0.001f64..0.5,
        1u32..600,
        50.0f64..2_000.0,
        1u32..900,
        1u32..10,
    )
        .prop_map(
            |(max_error_rate, ew, max_latency_p99_ms, lw, h)| TriggerConfig {
                max_error_rate,
                error_rate_window_seconds: ew,
                max_latency_p99_ms,
                latency_window_seconds: lw,
                health_check_failure_limit: h,
            },
        )
}

/// Increasing timestamps from gaps in milliseconds.
fn times(gaps: &[i64]) -> Vec<Timestamp> {
    let mut t = T0;
    gaps.iter()
        .map(|g| {
            t += g;
            Timestamp(t)
        })
        .collect()
}

proptest! {
    #[test]
    fn healthy_samples_never_fire(
        c in config(),
        points in prop::collection::vec((0i64..120_000, 0.0f64..=1.0, 0.0f64..=1.0, any::<bool>()), 0..60),
    ) {
        let ts = times(&points.iter().map(|p| p.0).collect::<Vec<_>>());
        let samples: Vec<Sample> = points.iter().zip(ts).map(|(p, at)| Sample {
            at,
            error_rate: Some(p.1 * c.max_error_rate),
            latency_p99_ms: Some(p.2 * c.max_latency_p99_ms),
            health_ok: p.3.then_some(true),
        }).collect();
        prop_assert_eq!(evaluate(&c, &samples), None);
    }

    #[test]
    fn a_breach_shorter_than_its_window_never_fires(
        c in config(),
        over in prop::collection::vec((1.0001f64..100.0, 1.0001f64..100.0), 1..40),
        healthy_gap in 0i64..60_000,
        failures_short_by in 1u32..10,
    ) {
        // A breach of both metrics spread over strictly less than each window, after
        // healthy history, with fewer failed health checks than the limit.
        let span = i64::from(c.error_rate_window_seconds.min(c.latency_window_seconds)) * 1_000 - 1;
        let n = over.len() as i64;
        let mut samples = vec![Sample { at: Timestamp(T0), error_rate: Some(0.0), latency_p99_ms: Some(0.0), health_ok: Some(true) }];
        let fails = c.health_check_failure_limit.saturating_sub(failures_short_by);
        for (i, (e, l)) in over.iter().enumerate() {
            let offset = if n == 1 { 0 } else { span * i as i64 / (n - 1) };
            samples.push(Sample {
                at: Timestamp(T0 + healthy_gap + offset),
                error_rate: Some((c.max_error_rate * e).min(1.0).max(c.max_error_rate * 1.0001)),
                latency_p99_ms: Some(c.max_latency_p99_ms * l),
                health_ok: ((i as u32) < fails).then_some(false),
            });
        }
        let over_limit = samples.iter().skip(1).all(|s| s.error_rate.unwrap() > c.max_error_rate);
        prop_assume!(over_limit);
        prop_assert_eq!(evaluate(&c, &samples), None);
    }

    #[test]
    fn a_sustained_breach_always_fires(
        c in config(),
        gaps in prop::collection::vec(1i64..90_000, 1..40),
        factor in 1.0001f64..50.0,
        which in 0u8..3,
    ) {
        // Samples over the limit until the window is covered: the last one fires.
        let window = match which {
            0 => i64::from(c.error_rate_window_seconds),
            1 => i64::from(c.latency_window_seconds),
            _ => 0,
        } * 1_000;
        let mut t = T0;
        let mut samples = Vec::new();
        let mut gaps = gaps.iter().cycle();
        loop {
            samples.push(Sample {
                at: Timestamp(t),
                error_rate: (which == 0).then(|| (c.max_error_rate * factor).min(1.0)),
                latency_p99_ms: (which == 1).then_some(c.max_latency_p99_ms * factor),
                health_ok: (which == 2).then_some(false),
            });
            let enough = if which == 2 {
                samples.len() as u32 >= c.health_check_failure_limit
            } else {
                t - T0 >= window
            };
            if enough { break; }
            t += gaps.next().copied().unwrap_or(1);
        }
        let fired = evaluate(&c, &samples);
        prop_assert!(fired.is_some(), "{samples:?}");
        let fired = fired.unwrap();
        prop_assert_eq!(fired.trigger, TriggerKind::ALL[usize::from(which)]);
        // And not before the last sample.
        prop_assert_eq!(evaluate(&c, &samples[..samples.len() - 1]), None);
    }

    #[test]
    fn observe_matches_a_brute_force_reading_of_the_windows(
        c in config(),
        points in prop::collection::vec((0i64..60_000, prop::option::of(0.0f64..0.1), prop::option::of(0.0f64..1_000.0), prop::option::of(any::<bool>())), 0..80),
    ) {
        let ts = times(&points.iter().map(|p| p.0).collect::<Vec<_>>());
        let samples: Vec<Sample> = points.iter().zip(ts).map(|(p, at)| Sample { at, error_rate: p.1, latency_p99_ms: p.2, health_ok: p.3 }).collect();
        let mut state = MonitorState::default();
        for (i, s) in samples.iter().enumerate() {
            let got: Vec<TriggerKind> = observe(&c, &mut state, s).iter().map(|b| b.trigger).collect();
            prop_assert_eq!(got, brute_force(&c, &samples[..=i]));
        }
    }
}

/// Which triggers fire on the last of `samples`, straight from the definitions: every
/// reading of the metric from some earlier one to the last is over the limit and they
/// span the window; the last N health checks all failed.
fn brute_force(c: &TriggerConfig, samples: &[Sample]) -> Vec<TriggerKind> {
    let last = samples.len() - 1;
    let mut fired = Vec::new();
    type Reading = fn(&Sample) -> Option<f64>;
    let metrics: [(TriggerKind, Reading, f64, u32); 2] = [
        (
            TriggerKind::ErrorRate,
            |s| s.error_rate,
            c.max_error_rate,
            c.error_rate_window_seconds,
        ),
        (
            TriggerKind::LatencyP99,
            |s| s.latency_p99_ms,
            c.max_latency_p99_ms,
            c.latency_window_seconds,
        ),
    ];
    for (kind, get, limit, window) in metrics {
        if get(&samples[last]).is_none() {
            continue;
        }
        let sustained = (0..=last).any(|j| {
            let readings: Vec<f64> = samples[j..=last].iter().filter_map(get).collect();
            get(&samples[j]).is_some()
                && readings.iter().all(|v| *v > limit)
                && samples[last].at.0 - samples[j].at.0 >= i64::from(window) * 1_000
        });
        if sustained {
            fired.push(kind);
        }
    }
    if samples[last].health_ok == Some(false) {
        let checks: Vec<bool> = samples.iter().filter_map(|s| s.health_ok).collect();
        let n = c.health_check_failure_limit as usize;
        if checks.len() >= n && checks[checks.len() - n..].iter().all(|ok| !ok) {
            fired.push(TriggerKind::HealthChecks);
        }
    }
    fired
}
