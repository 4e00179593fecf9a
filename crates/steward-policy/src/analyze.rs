//! `analyze(task, policy) -> Analysis`: detection, factor points, bands, floors and
//! approval routing (SPEC §3, §4, §6.1). Pure and total: every input yields an analysis.

use std::fmt::Write as _;

use crate::action::{ActionClass, classify_tokens, is_destructive};
use crate::analysis::{
    Analysis, ApprovalRequirements, Block, CertificationDecision, Factor, FactorName, FloorApplied,
    FloorRule, ResourceLimits, RiskAssessment, SafetyChecks, Signals, WorkerType,
};
use crate::model::{
    ComplianceFramework, CustomerImpact, DataSensitivity, Environment, Evidence, ImpactScope,
    Level, OperationKind, PermitType, Reversibility, RiskLevel, Role, SensitiveKind,
};
use crate::policy::{Policy, Tag};
use crate::score::{Facts, Score, score};
use crate::task::Task;
use crate::vocab::{lowercase, tokenize};

/// Whether any of `data_types` names sensitive data (PII, PHI, financial data,
/// credentials) under the policy's vocabulary: exactly what [`analyze`] concludes from a
/// task's `data_types` alone, without the rest of the analysis. For the run-time check
/// (authorize), which classifies the data an operation touches on every decision.
pub fn names_sensitive_data(data_types: &[String], policy: &Policy) -> bool {
    let mut tokens = Vec::with_capacity(8);
    data_types.iter().any(|data_type| {
        let lower = lowercase(data_type);
        tokenize(&lower, &mut tokens);
        let mut found = false;
        policy.lexicon.scan_tokens(&lower, &tokens, |tag, _| {
            found |= matches!(tag, Tag::Sensitive(_));
        });
        found
    })
}

/// Analyses one task under one policy. Never panics and never fails: input validation
/// happened when the `Task` was parsed, and a validated `Policy` covers every total.
pub fn analyze(task: &Task, policy: &Policy) -> Analysis {
    let scan = Scan::run(task, policy);
    let environment = decide_environment(task, &scan);
    let read_only = decide_read_only(task, &scan);
    let mut warnings = Vec::new();

    let (reversibility, reversibility_evidence) =
        decide_reversibility(task, &scan, environment.value, read_only.value);
    let (data, data_evidence) = decide_data(task, &scan);
    let counts = Counts {
        services: distinct_count(&task.services_affected),
        regions: distinct_count(&task.regions),
    };
    let (scope, scope_evidence) = decide_scope(task, &scan, policy, &counts);
    let (customers, customer_evidence) = decide_customers(task, policy);
    warnings.extend(
        [
            &reversibility.raised,
            &data.raised,
            &scope.raised,
            &customers.raised,
        ]
        .into_iter()
        .flatten()
        .cloned(),
    );
    let customer_facing = task.customer_facing == Some(true) || !scan.customer_facing.is_empty();
    let destructive = !scan.destructive.is_empty();
    let facts = Facts {
        environment: environment.value,
        reversibility: reversibility.value,
        data_sensitivity: data.value,
        impact_scope: scope.value,
        customer_impact: customers.value,
        read_only: read_only.value,
        customer_facing,
        risky_operation: !scan.ops.is_empty() || destructive,
        system_wide_component: !scan.system_wide.is_empty(),
        services: counts.services,
        regions: counts.regions,
        compliance: task.compliance_frameworks.iter().copied().collect(),
    };
    let scored = score(&facts, policy);
    let [
        env_points,
        rev_points,
        data_points,
        scope_points,
        customer_points,
    ] = scored.points;
    let (total, risk_level, base_level, level) = (
        scored.total,
        scored.risk_level,
        scored.base_level,
        scored.level,
    );
    let env = environment.value;
    let sensitive = data.value == DataSensitivity::Sensitive;

    let factors = vec![
        factor(
            FactorName::Environment,
            env.as_str(),
            env_points,
            environment.evidence,
        ),
        factor(
            FactorName::Reversibility,
            reversibility.value.as_str(),
            rev_points,
            reversibility_evidence,
        ),
        factor(
            FactorName::DataSensitivity,
            data.value.as_str(),
            data_points,
            data_evidence,
        ),
        factor(
            FactorName::ImpactScope,
            scope.value.as_str(),
            scope_points,
            scope_evidence,
        ),
        factor(
            FactorName::CustomerImpact,
            customers.value.as_str(),
            customer_points,
            customer_evidence,
        ),
    ];
    let floors_applied = explain_floors(&scored, &facts, &scan, policy);

    if env == Environment::Unknown {
        warnings.push(Block {
            rule: "environment_unknown".into(),
            message: "no environment signal found: the task is levelled like production; declare `environment` to be precise".into(),
        });
    }
    warnings.extend(read_only.warnings);

    let permit_required =
        level >= Level::STANDARD || (level == Level::BASIC && env.is_production_like());
    let permit_type = permit_required.then(|| {
        if destructive && env.is_production_like() {
            PermitType::Destructive
        } else {
            match level.value() {
                0 | 1 => PermitType::ReadOnly,
                2 => PermitType::StandardProduction,
                3 => PermitType::AdvancedProduction,
                _ => PermitType::MasterProduction,
            }
        }
    });
    let approval_requirements = approvals(policy, task, &scan, level, permit_type, sensitive);

    let level_spec = policy.level(level);
    let resource_limits = ResourceLimits {
        token_allocation: level_spec.token_allocation,
        token_allocation_extended: level_spec.token_allocation_extended,
        max_concurrent_tasks: level_spec.max_concurrent_tasks,
        audit_retention_days: level_spec.audit_retention_days,
    };
    if let Some(tokens) = task.estimated_tokens {
        match resource_limits.token_allocation_extended {
            _ if tokens <= resource_limits.token_allocation => {}
            Some(extended) if tokens <= extended => warnings.push(Block {
                rule: "extended_tokens_need_justification".into(),
                message: format!(
                    "estimated_tokens {tokens} exceeds the level-{level} allocation of {}; the extended allocation (up to {extended}) needs a justification",
                    resource_limits.token_allocation
                ),
            }),
            _ => warnings.push(Block {
                rule: "tokens_exceed_allocation".into(),
                message: format!(
                    "estimated_tokens {tokens} exceeds the most level {level} may be given ({}); split the task",
                    resource_limits
                        .token_allocation_extended
                        .unwrap_or(resource_limits.token_allocation)
                ),
            }),
        }
    }

    let worker_type = if level.is_union() {
        WorkerType::Union
    } else {
        WorkerType::NonUnion
    };
    let reasoning = reasoning(
        env,
        total,
        risk_level,
        base_level,
        read_only.value,
        level,
        &floors_applied,
        permit_type,
    );

    let mut sensitive_kinds: Vec<SensitiveKind> = scan.sensitive.iter().map(|(k, _)| *k).collect();
    sensitive_kinds.sort();
    sensitive_kinds.dedup();
    let mut risky_operations: Vec<OperationKind> = scan.ops.iter().map(|(k, _)| *k).collect();
    risky_operations.sort();
    risky_operations.dedup();

    Analysis {
        task_id: task.id.clone(),
        policy_version: policy.version().to_owned(),
        environment_detected: env,
        risk_assessment: RiskAssessment {
            environment_risk: env_points,
            reversibility_risk: rev_points,
            data_sensitivity_risk: data_points,
            impact_scope_risk: scope_points,
            customer_impact_risk: customer_points,
            total_risk_score: total,
            risk_level,
            factors,
        },
        certification_decision: CertificationDecision {
            worker_type,
            certification_level_required: level,
            permit_required,
            base_level,
            floors_applied,
            reasoning,
        },
        approval_requirements,
        resource_limits,
        safety_checks: SafetyChecks {
            hard_blocks: Vec::new(),
            warnings,
        },
        signals: Signals {
            read_only: read_only.value,
            destructive,
            customer_facing,
            sensitive_data: sensitive_kinds,
            data_sensitivity: data.value,
            risky_operations,
            services: counts.services,
            regions: counts.regions,
            system_wide_component: facts.system_wide_component,
            compliance_frameworks: facts.compliance.iter().collect(),
        },
    }
}

fn factor(name: FactorName, category: &str, points: u8, evidence: Vec<String>) -> Factor {
    Factor {
        factor: name,
        category: category.to_owned(),
        points,
        evidence,
    }
}

fn distinct_count(items: &[String]) -> u32 {
    let mut seen: Vec<String> = items
        .iter()
        .map(|s| s.trim().to_lowercase())
        .filter(|s| !s.is_empty())
        .collect();
    seen.sort();
    seen.dedup();
    u32::try_from(seen.len()).unwrap_or(u32::MAX)
}

/// Where in the task a signal was found.
#[derive(Clone, Copy)]
enum Place {
    Field(&'static str),
    Indexed(&'static str, usize),
}

/// Everything the text fields said, with where they said it.
#[derive(Default)]
struct Scan {
    strong_env: Vec<(Environment, String)>,
    weak_env: [u32; 6],
    weak_evidence: Vec<(Environment, String)>,
    sensitive: Vec<(SensitiveKind, String)>,
    data: Vec<(DataSensitivity, String)>,
    ops: Vec<(OperationKind, String)>,
    destructive: Vec<String>,
    schema: Vec<String>,
    system_wide: Vec<String>,
    customer_facing: Vec<String>,
    /// Operations that are not reads, by index.
    non_read_ops: Vec<usize>,
}

impl Scan {
    fn run(task: &Task, policy: &Policy) -> Scan {
        let mut scan = Scan::default();
        let mut tokens = Vec::with_capacity(32);
        let lex = &policy.lexicon;
        let weights = policy.env_detection();

        if let Some(env) = task.environment.filter(|e| *e != Environment::Unknown) {
            scan.strong_env.push((env, format!("environment={env}")));
        }
        for (key, value) in &task.environment_variables {
            let lower = lowercase(value);
            tokenize(&lower, &mut tokens);
            lex.scan_tokens(&lower, &tokens, |tag, _| {
                if let Tag::Env(env) = tag {
                    scan.strong_env
                        .push((env, format!("environment_variables.{key}={value}")));
                }
            });
        }
        for (field, value) in [
            ("hostname", &task.hostname),
            ("kubernetes_namespace", &task.kubernetes_namespace),
        ] {
            if let Some(value) = value {
                let lower = lowercase(value);
                tokenize(&lower, &mut tokens);
                lex.scan_tokens(&lower, &tokens, |tag, _| {
                    if let Tag::Env(env) = tag {
                        scan.strong_env.push((env, format!("{field}={value}")));
                    }
                });
            }
        }
        if task.production == Some(true) {
            scan.strong_env
                .push((Environment::Production, "production=true".into()));
        }
        if task.critical == Some(true) {
            scan.strong_env
                .push((Environment::Production, "critical=true".into()));
        }

        if let Some(branch) = &task.git_branch {
            let lower = lowercase(branch.trim());
            let matches = |patterns: &[String]| {
                patterns.iter().any(|p| match p.strip_suffix('*') {
                    Some(prefix) => lower.starts_with(prefix),
                    None => lower == *p,
                })
            };
            let evidence = format!("git_branch={branch}");
            if matches(&policy.production_branches) {
                scan.weak_vote(Environment::Production, weights.branch_weight, evidence);
            } else if matches(&policy.development_branches) {
                scan.weak_vote(Environment::Development, weights.branch_weight, evidence);
            } else {
                tokenize(&lower, &mut tokens);
                let mut named = Vec::new();
                lex.scan_tokens(&lower, &tokens, |tag, _| {
                    if let Tag::Env(env) = tag {
                        named.push(env);
                    }
                });
                scan.weak_votes(named, weights.branch_weight, &evidence);
            }
        }
        if !task.paths.is_empty() {
            let mut named = Vec::new();
            for path in &task.paths {
                let lower = lowercase(path);
                tokenize(&lower, &mut tokens);
                lex.scan_tokens(&lower, &tokens, |tag, _| {
                    if let Tag::Env(env) = tag {
                        named.push((env, path.as_str()));
                    }
                });
            }
            named.sort();
            named.dedup_by_key(|(env, _)| *env);
            for (env, path) in named {
                scan.weak_vote(env, weights.path_weight, format!("paths: {path}"));
            }
        }

        if let Some(description) = &task.description {
            let lower = lowercase(description);
            tokenize(&lower, &mut tokens);
            let mut named = Vec::new();
            lex.scan_tokens(&lower, &tokens, |tag, phrase| match tag {
                Tag::Env(env) => named.push((env, phrase.to_owned())),
                _ => scan.content(tag, phrase, Place::Field("description"), &lower),
            });
            named.sort();
            named.dedup_by_key(|(env, _)| *env);
            for (env, phrase) in named {
                scan.weak_vote(
                    env,
                    weights.description_weight,
                    format!("description: `{phrase}`"),
                );
            }
        }
        for (i, op) in task.operations().iter().enumerate() {
            let lower = lowercase(op);
            tokenize(&lower, &mut tokens);
            let place = Place::Indexed("operations", i);
            // The one classification authorize applies to actions, too.
            let classes = classify_tokens(policy, &lower, &tokens, |tag, phrase| {
                scan.content(tag, phrase, place, &lower);
            });
            if classes.contains(ActionClass::Change) {
                scan.non_read_ops.push(i);
            }
        }
        for (i, data_type) in task.data_types.iter().enumerate() {
            let lower = lowercase(data_type);
            tokenize(&lower, &mut tokens);
            let place = Place::Indexed("data_types", i);
            lex.scan_tokens(&lower, &tokens, |tag, phrase| {
                if matches!(tag, Tag::Sensitive(_) | Tag::Data(_)) {
                    scan.content(tag, phrase, place, &lower);
                }
            });
        }
        for (i, service) in task.services_affected.iter().enumerate() {
            let lower = lowercase(service);
            tokenize(&lower, &mut tokens);
            lex.scan_tokens(&lower, &tokens, |tag, phrase| match tag {
                Tag::SystemWide => scan
                    .system_wide
                    .push(format!("services_affected[{i}]: `{phrase}`")),
                Tag::CustomerFacing => scan
                    .customer_facing
                    .push(format!("services_affected[{i}]: `{phrase}`")),
                _ => {}
            });
        }
        scan
    }

    fn weak_vote(&mut self, env: Environment, weight: u32, evidence: String) {
        self.weak_env[env as usize] += weight;
        self.weak_evidence.push((env, evidence));
    }

    fn weak_votes(&mut self, mut named: Vec<Environment>, weight: u32, evidence: &str) {
        named.sort();
        named.dedup();
        for env in named {
            self.weak_vote(env, weight, evidence.to_owned());
        }
    }

    /// Records a data or operation signal found in `place`, whose lower-cased text is `text`.
    fn content(&mut self, tag: Tag, phrase: &str, place: Place, text: &str) {
        // Evidence text is built only for what matched.
        let evidence = || match place {
            Place::Field(field) => format!("{field}: `{phrase}`"),
            Place::Indexed(field, i) => format!("{field}[{i}]: `{phrase}`"),
        };
        match tag {
            Tag::Sensitive(kind) => self.sensitive.push((kind, evidence())),
            Tag::Data(category) => self.data.push((category, evidence())),
            Tag::Op(kind) => {
                if kind == OperationKind::SchemaMigration {
                    self.schema.push(evidence());
                }
                self.ops.push((kind, evidence()));
            }
            Tag::Destructive => {
                if is_destructive(phrase, text) {
                    self.destructive.push(evidence());
                }
            }
            Tag::SystemWide => self.system_wide.push(evidence()),
            Tag::Env(_) | Tag::Read | Tag::CustomerFacing => {}
        }
    }
}

struct Decided<T> {
    value: T,
    /// The warning when a declared category was lower than the detected one.
    raised: Option<Block>,
}

struct EnvDecision {
    value: Environment,
    evidence: Vec<String>,
}

fn decide_environment(task: &Task, scan: &Scan) -> EnvDecision {
    let _ = task;
    let pick = |envs: &mut dyn Iterator<Item = Environment>| {
        envs.max_by_key(|e| (e.risk_rank(), *e == Environment::Development))
    };
    if let Some(env) = pick(&mut scan.strong_env.iter().map(|(e, _)| *e)) {
        let evidence = scan
            .strong_env
            .iter()
            .filter(|(e, _)| *e == env)
            .map(|(_, ev)| ev.clone())
            .collect();
        return EnvDecision {
            value: env,
            evidence,
        };
    }
    let best = Environment::ALL
        .iter()
        .copied()
        .filter(|e| scan.weak_env[*e as usize] > 0)
        .max_by_key(|e| {
            (
                scan.weak_env[*e as usize],
                e.risk_rank(),
                *e == Environment::Development,
            )
        });
    match best {
        Some(env) => EnvDecision {
            value: env,
            evidence: scan
                .weak_evidence
                .iter()
                .filter(|(e, _)| *e == env)
                .map(|(_, ev)| ev.clone())
                .collect(),
        },
        None => EnvDecision {
            value: Environment::Unknown,
            evidence: vec!["no environment signal".into()],
        },
    }
}

struct ReadOnlyDecision {
    value: bool,
    warnings: Vec<Block>,
}

fn decide_read_only(task: &Task, scan: &Scan) -> ReadOnlyDecision {
    let ops = task.operations();
    let writes_found = !scan.ops.is_empty() || !scan.destructive.is_empty();
    match task.read_only {
        Some(false) => ReadOnlyDecision {
            value: false,
            warnings: Vec::new(),
        },
        Some(true) => {
            let mut warnings = Vec::new();
            if let Some(&i) = scan.non_read_ops.first() {
                warnings.push(Block {
                    rule: "read_only_contradicted".into(),
                    message: format!(
                        "the task is flagged `read_only` but operation `{}` is not a read; it is treated as writing",
                        ops[i]
                    ),
                });
            } else if writes_found {
                let what = scan
                    .ops
                    .first()
                    .map(|(_, e)| e.clone())
                    .or_else(|| scan.destructive.first().cloned())
                    .unwrap_or_default();
                warnings.push(Block {
                    rule: "read_only_contradicted".into(),
                    message: format!(
                        "the task is flagged `read_only` but names a writing operation ({what}); it is treated as writing"
                    ),
                });
            }
            ReadOnlyDecision {
                value: warnings.is_empty(),
                warnings,
            }
        }
        None => ReadOnlyDecision {
            value: !ops.is_empty() && scan.non_read_ops.is_empty() && !writes_found,
            warnings: Vec::new(),
        },
    }
}

fn decide_reversibility(
    task: &Task,
    scan: &Scan,
    env: Environment,
    read_only: bool,
) -> (Decided<Reversibility>, Vec<String>) {
    let (detected, evidence): (Reversibility, Vec<String>) = if !scan.destructive.is_empty() {
        (Reversibility::Irreversible, scan.destructive.clone())
    } else if !scan.schema.is_empty() {
        (Reversibility::ComplexRollback, scan.schema.clone())
    } else if read_only {
        (
            Reversibility::FullyReversible,
            vec!["read-only task".into()],
        )
    } else if matches!(env, Environment::Staging | Environment::Production) {
        (
            Reversibility::AutomatedRollback,
            vec![format!("default for writes in {env}")],
        )
    } else {
        (
            Reversibility::FullyReversible,
            vec![format!("default for work in {env}")],
        )
    };
    declared_or_detected(task.reversibility, detected, evidence, "reversibility")
}

/// The riskier of the declared and the detected category (a master cannot talk a task
/// down), with the evidence that decided and a warning when the declaration was lower.
fn declared_or_detected<T: Copy + Ord + std::fmt::Display>(
    declared: Option<T>,
    detected: T,
    mut evidence: Vec<String>,
    field: &str,
) -> (Decided<T>, Vec<String>) {
    match declared {
        Some(d) if d >= detected => (
            Decided {
                value: d,
                raised: None,
            },
            vec![format!("{field}={d} (declared)")],
        ),
        Some(d) => {
            evidence.push(format!("{field}={d} (declared, lower than detected)"));
            let raised = Block {
                rule: "declared_category_raised".into(),
                message: format!(
                    "declared {field} `{d}` is lower than detected `{detected}`; the detected value is used"
                ),
            };
            (
                Decided {
                    value: detected,
                    raised: Some(raised),
                },
                evidence,
            )
        }
        None => (
            Decided {
                value: detected,
                raised: None,
            },
            evidence,
        ),
    }
}

fn decide_data(task: &Task, scan: &Scan) -> (Decided<DataSensitivity>, Vec<String>) {
    let (detected, evidence) = if !scan.sensitive.is_empty() {
        (
            DataSensitivity::Sensitive,
            scan.sensitive
                .iter()
                .map(|(kind, e)| format!("{kind}: {e}"))
                .collect(),
        )
    } else if let Some(max) = scan.data.iter().map(|(c, _)| *c).max() {
        (
            max,
            scan.data
                .iter()
                .filter(|(c, _)| *c == max)
                .map(|(_, e)| e.clone())
                .collect(),
        )
    } else {
        (DataSensitivity::Public, vec!["no data signal".into()])
    };
    declared_or_detected(
        task.data_sensitivity,
        detected,
        evidence,
        "data_sensitivity",
    )
}

fn decide_scope(
    task: &Task,
    scan: &Scan,
    policy: &Policy,
    counts: &Counts,
) -> (Decided<ImpactScope>, Vec<String>) {
    let (regions, services) = (counts.regions, counts.services);
    let min_regions = policy.floors().multi_region_min_regions.max(2);
    let (detected, evidence) = if regions >= min_regions {
        (
            ImpactScope::MultiRegion,
            vec![format!("regions: {}", task.regions.join(", "))],
        )
    } else if !scan.system_wide.is_empty() {
        (ImpactScope::SystemWide, scan.system_wide.clone())
    } else if services >= 2 {
        (
            ImpactScope::MultiService,
            vec![format!("services_affected: {services} services")],
        )
    } else if services == 1 {
        (
            ImpactScope::SingleService,
            vec![format!("services_affected: {}", task.services_affected[0])],
        )
    } else {
        (
            ImpactScope::SingleComponent,
            vec!["no services named".into()],
        )
    };
    declared_or_detected(task.impact_scope, detected, evidence, "impact_scope")
}

fn decide_customers(task: &Task, policy: &Policy) -> (Decided<CustomerImpact>, Vec<String>) {
    let impact = policy.impact();
    let count = task.customers_affected.unwrap_or(0);
    let detected = if count > impact.customers_all_above {
        CustomerImpact::All
    } else if count > impact.customers_segment_above {
        CustomerImpact::Segment
    } else if count > 0 {
        CustomerImpact::Internal
    } else {
        CustomerImpact::None
    };
    let evidence = match task.customers_affected {
        Some(n) => vec![format!("customers_affected={n}")],
        None => vec!["no customers named".into()],
    };
    declared_or_detected(task.customer_impact, detected, evidence, "customer_impact")
}

/// Distinct services and regions, counted once per analysis.
struct Counts {
    services: u32,
    regions: u32,
}

/// Every hard floor that holds for the task, each with its reason in words, whether or
/// not it raises the level above the base: a reviewer sees each independent reason for
/// the level (a PII schema change in production lists the sensitive data, the risky
/// operation and the production write even when the band alone already asks for 4).
fn explain_floors(
    scored: &Score,
    facts: &Facts,
    scan: &Scan,
    policy: &Policy,
) -> Vec<FloorApplied> {
    let mut out = Vec::new();
    for rule in FloorRule::ALL {
        let Some(level) = scored.floor(*rule) else {
            continue;
        };
        if *rule == FloorRule::Compliance {
            // One entry per framework in scope that has a floor of its own.
            for framework in facts.compliance.iter() {
                if let Some(l) = policy.compliance_floor(framework) {
                    out.push(FloorApplied {
                        rule: *rule,
                        level: l,
                        reason: format!("{framework} compliance scope"),
                    });
                }
            }
            continue;
        }
        let reason = match rule {
            FloorRule::ProductionWrite => {
                "writing in production needs a certified worker".to_owned()
            }
            FloorRule::ProductionReadOnly => {
                "read-only production access needs a basic certification".to_owned()
            }
            FloorRule::SensitiveData => {
                let mut kinds: Vec<SensitiveKind> =
                    scan.sensitive.iter().map(|(k, _)| *k).collect();
                kinds.sort();
                kinds.dedup();
                let what = if kinds.is_empty() {
                    "declared sensitive".to_owned()
                } else {
                    kinds
                        .iter()
                        .map(|k| k.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                };
                format!("sensitive data ({what}) needs advanced certification in any environment")
            }
            FloorRule::RiskyOperationProduction | FloorRule::RiskyOperationStaging => {
                let mut kinds: Vec<&str> = scan.ops.iter().map(|(k, _)| k.as_str()).collect();
                if !scan.destructive.is_empty() {
                    kinds.push("destructive");
                }
                kinds.sort();
                kinds.dedup();
                format!(
                    "risky operation ({}) in {}",
                    kinds.join(", "),
                    facts.environment
                )
            }
            FloorRule::CustomerFacingProduction => {
                "customer-facing service in production".to_owned()
            }
            FloorRule::MultiServiceProduction => {
                format!("{} services in production", facts.services)
            }
            FloorRule::SystemWideProduction => "system-wide component in production".to_owned(),
            FloorRule::MultiRegionProduction => {
                format!("{} regions in production", facts.regions.max(2))
            }
            FloorRule::Compliance => continue,
        };
        out.push(FloorApplied {
            rule: *rule,
            level,
            reason,
        });
    }
    out
}

fn approvals(
    policy: &Policy,
    task: &Task,
    scan: &Scan,
    level: Level,
    permit_type: Option<PermitType>,
    sensitive: bool,
) -> ApprovalRequirements {
    let Some(kind) = permit_type else {
        return ApprovalRequirements {
            approvers_required: 0,
            approver_roles: Vec::new(),
            required_roles: Vec::new(),
            max_approval_time_hours: 0.0,
            change_advisory_board_required: false,
            permit_type: None,
            auto_approve: true,
            evidence_required: Vec::new(),
        };
    };
    let spec = policy.permit_type(kind);
    let level_spec = policy.level(level);
    if kind == PermitType::ReadOnly && !sensitive {
        return ApprovalRequirements {
            approvers_required: 0,
            approver_roles: Vec::new(),
            required_roles: Vec::new(),
            max_approval_time_hours: spec.approval_sla_hours,
            change_advisory_board_required: false,
            permit_type: Some(kind),
            auto_approve: true,
            evidence_required: level_spec.evidence.clone(),
        };
    }
    let mut approvers_required = spec.approvers_required;
    let mut approver_roles = spec.approver_roles.clone();
    let mut required_roles = spec.required_roles.clone();
    let mut evidence: Vec<Evidence> = if kind == PermitType::Destructive {
        // A destructive permit carries at least its own level's evidence, and the required
        // level's if that is higher.
        let own = &policy.level(spec.level).evidence;
        if level_spec.evidence.len() > own.len() {
            level_spec.evidence.clone()
        } else {
            own.clone()
        }
    } else {
        level_spec.evidence.clone()
    };
    let mut add_overlay = |roles: &[Role], extra: &[Evidence]| {
        for role in roles {
            if !required_roles.contains(role) {
                required_roles.push(*role);
                if !approver_roles.contains(role) {
                    approver_roles.push(*role);
                }
                approvers_required += 1;
            }
        }
        for e in extra {
            if !evidence.contains(e) {
                evidence.push(*e);
            }
        }
    };
    let mut frameworks: Vec<ComplianceFramework> = task.compliance_frameworks.clone();
    frameworks.sort();
    frameworks.dedup();
    for framework in frameworks {
        if let Some(overlay) = policy.compliance_overlays.get(&framework) {
            add_overlay(&overlay.roles, &overlay.evidence);
        }
    }
    if scan.ops.iter().any(|(k, _)| *k == OperationKind::Security) {
        add_overlay(
            &policy.security_overlay.roles,
            &policy.security_overlay.evidence,
        );
    }
    ApprovalRequirements {
        approvers_required,
        approver_roles,
        required_roles,
        max_approval_time_hours: spec.approval_sla_hours,
        change_advisory_board_required: level_spec.change_advisory_board
            && kind == PermitType::MasterProduction,
        permit_type: Some(kind),
        auto_approve: false,
        evidence_required: evidence,
    }
}

#[expect(
    clippy::too_many_arguments,
    reason = "a one-off formatter over the decision's parts"
)]
fn reasoning(
    env: Environment,
    total: u8,
    risk_level: RiskLevel,
    base: Level,
    read_only: bool,
    level: Level,
    floors: &[FloorApplied],
    permit_type: Option<PermitType>,
) -> String {
    let mut s = String::new();
    let _ = write!(s, "total {total} ({risk_level}) in {env}: ");
    let _ = match env {
        Environment::Local | Environment::Development | Environment::Test => {
            write!(s, "base level 0 (non-union fast path)")
        }
        Environment::Staging => write!(s, "base level 1 (staging needs a certified worker)"),
        Environment::Unknown | Environment::Production if read_only => {
            write!(s, "base level {base} (band capped at 1 for read-only work)")
        }
        Environment::Unknown => write!(
            s,
            "base level {base} from the band (unknown is levelled like production)"
        ),
        Environment::Production => write!(s, "base level {base} from the band"),
    };
    for floor in floors {
        let _ = write!(s, "; floor {} ({})", floor.level, floor.reason);
    }
    let _ = write!(s, "; required level {level}");
    match permit_type {
        Some(kind) => {
            let _ = write!(s, ", permit `{kind}`");
        }
        None if level.is_union() => s.push_str(", no permit"),
        None => s.push_str(", non-union, auto-approved"),
    }
    s
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod proptests;
