//! A deterministic corpus of varied tasks for the risk-engine benchmark and its agreement test.
//!
//! Seeded xorshift, no `rand`: the same seed gives the same tasks on every machine, so two
//! runs of the benchmark measure the same work. The mix covers every way an environment can
//! be named (declared, environment variables, hostname, namespace, branch, paths,
//! description, nothing), reads and writes of every risky kind, every data category, 0–4
//! services, 0–3 regions, 0–100 000 customers, compliance frameworks and declared categories.

use std::collections::BTreeMap;

use steward_policy::{
    ComplianceFramework, CustomerImpact, DataSensitivity, Environment, ImpactScope, Reversibility,
    Task,
};

/// The seed the benchmark and the agreement test use.
pub const SEED: u64 = 0x5EED_2026_0001;

/// How many tasks the benchmark scores per iteration.
pub const SIZE: usize = 1_000;

/// Builds `n` tasks from `seed`. Pure: the same arguments give the same tasks.
pub fn generate(seed: u64, n: usize) -> Vec<Task> {
    let mut rng = XorShift::new(seed);
    (0..n).map(|i| task(&mut rng, i)).collect()
}

/// A representative production task: a customer-facing deploy with a schema change, one
/// region, PII, thousands of customers. Used for the single-task median.
pub fn representative() -> Task {
    Task {
        id: Some("task-representative".into()),
        description: Some(
            "Deploy checkout service v3.2 with the new orders schema and migrate customer email addresses to the new table"
                .into(),
        ),
        environment: Some(Environment::Production),
        environment_variables: BTreeMap::from([("NODE_ENV".into(), "production".into())]),
        hostname: Some("checkout-1.prod.example.com".into()),
        git_branch: Some("release/3.2".into()),
        operations: Some(vec![
            "deploy checkout v3.2".into(),
            "ALTER TABLE orders ADD COLUMN customer_email TEXT".into(),
        ]),
        data_types: vec!["email".into()],
        services_affected: vec!["checkout".into(), "api".into()],
        regions: vec!["us-east-1".into()],
        customers_affected: Some(5_000),
        ..Task::default()
    }
}

/// xorshift64*: small, fast, good enough to vary a corpus.
struct XorShift(u64);

impl XorShift {
    fn new(seed: u64) -> XorShift {
        XorShift(seed.max(1))
    }

    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A number in `0..n`.
    fn below(&mut self, n: usize) -> usize {
        // The corpus is small, so modulo bias is irrelevant.
        usize::try_from(self.next() % n as u64).unwrap_or(0)
    }

    /// True with probability `percent` / 100.
    fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }

    fn pick<'a, T: ?Sized>(&mut self, items: &[&'a T]) -> &'a T {
        items[self.below(items.len())]
    }
}

const ENVIRONMENTS: &[&str] = &["local", "development", "test", "staging", "production"];

const ENV_VARS: &[(&str, &str)] = &[
    ("NODE_ENV", "production"),
    ("NODE_ENV", "development"),
    ("RAILS_ENV", "staging"),
    ("APP_ENV", "prod"),
    ("APP_ENV", "dev"),
    ("DEPLOY_TARGET", "live"),
    ("STAGE", "qa"),
    ("ENVIRONMENT", "stg"),
    ("LOG_LEVEL", "debug"),
];

const HOSTNAMES: &[&str] = &[
    "api-1.prod.example.com",
    "db-primary.prd.internal",
    "web.staging.example.com",
    "worker-stg-3",
    "dev-box-17",
    "localhost",
    "127.0.0.1",
    "qa-runner.ci.example.com",
    "build-agent-42",
];

const NAMESPACES: &[&str] = &[
    "production",
    "prod-payments",
    "staging",
    "dev",
    "qa",
    "default",
];

const BRANCHES: &[&str] = &[
    "main",
    "master",
    "release/2.4",
    "production",
    "feature/checkout-redesign",
    "bugfix/login-timeout",
    "develop",
    "dev",
    "hotfix/prod-crash",
    "chore/deps",
    "staging",
];

const PATHS: &[&str] = &[
    "src/main.rs",
    "README.md",
    "deploy/prod/values.yaml",
    "config/staging.toml",
    "infra/terraform/main.tf",
    "docs/CONTRIBUTING.md",
    "tests/fixtures/users.json",
    "k8s/dev/deployment.yaml",
    "migrations/20260101_add_orders.sql",
];

/// Operations: writes of every risky kind, plain writes, and reads.
const OPERATIONS: &[&str] = &[
    "deploy",
    "deploy api v2.1",
    "npm run build",
    "git push origin main",
    "restart service",
    "ALTER TABLE users ADD COLUMN last_login TIMESTAMP",
    "CREATE INDEX orders_by_customer ON orders (customer_id)",
    "db migrate",
    "DROP TABLE sessions_old",
    "TRUNCATE audit_log_staging",
    "DELETE FROM orders WHERE created_at < '2020-01-01'",
    "DELETE FROM users WHERE id = 42",
    "purge cache entries",
    "rm -rf /var/tmp/build",
    "terraform apply",
    "terraform destroy -target=module.vpc",
    "terraform plan",
    "kubectl apply -f deployment.yaml",
    "helm upgrade api ./chart",
    "update firewall rules for port 443",
    "rotate keys for the signing service",
    "grant IAM role to ci-bot",
    "renew TLS certificate",
    "kubectl get pods",
    "kubectl logs api-7f9c",
    "kubectl describe deployment web",
    "SELECT count(*) FROM orders",
    "SELECT email FROM users WHERE id = 7",
    "list buckets",
    "tail -f /var/log/app.log",
    "git log --oneline",
];

const READS: &[&str] = &[
    "kubectl get pods",
    "kubectl logs api-7f9c",
    "SELECT count(*) FROM orders",
    "describe instances",
    "show tables",
    "git status",
    "terraform plan",
];

const DATA_TYPES: &[&str] = &[
    "pii",
    "email",
    "patient",
    "credit card",
    "test data",
    "internal",
    "public",
    "fixtures",
    "api keys",
    "metrics",
];

const SERVICES: &[&str] = &[
    "api",
    "web",
    "billing",
    "worker",
    "search",
    "auth",
    "load balancer",
    "cdn",
    "shared cache",
    "message queue",
    "checkout",
    "reporting",
    "notifications",
    "primary database",
];

const REGIONS: &[&str] = &["us-east-1", "us-west-2", "eu-west-1", "ap-southeast-2"];

/// Filler words for descriptions; signal words are mixed in separately.
const WORDS: &[&str] = &[
    "update",
    "the",
    "service",
    "config",
    "for",
    "new",
    "release",
    "fix",
    "bug",
    "in",
    "handler",
    "refactor",
    "module",
    "add",
    "tests",
    "improve",
    "latency",
    "of",
    "requests",
    "cleanup",
    "old",
    "code",
    "rename",
    "field",
    "healthcheck",
    "tokenizer",
    "author",
    "page",
    "layout",
    "documentation",
    "typo",
    "dependency",
    "bump",
    "version",
    "retry",
    "logic",
    "queue",
    "worker",
    "timeout",
    "metrics",
    "dashboard",
    "alerts",
    "report",
    "feature",
    "flag",
];

const SIGNAL_PHRASES: &[&str] = &[
    "in production",
    "on prod",
    "to staging",
    "for the dev cluster",
    "in qa",
    "customer email addresses",
    "patient diagnosis records",
    "credit card numbers",
    "payroll data",
    "user passwords",
    "synthetic data",
    "internal dashboards",
    "public docs",
    "database migration",
    "drop the old table",
    "firewall change",
    "load balancer config",
    "read logs",
];

fn task(rng: &mut XorShift, index: usize) -> Task {
    let mut task = Task {
        id: Some(format!("task-{index:05}")),
        ..Task::default()
    };

    // Environment: one of eight ways to say it, or none at all.
    match rng.below(8) {
        0 => task.environment = parse(rng.pick(ENVIRONMENTS)),
        1 => {
            let (key, value) = ENV_VARS[rng.below(ENV_VARS.len())];
            task.environment_variables.insert(key.into(), value.into());
            if rng.chance(30) {
                task.environment_variables
                    .insert("REGION".into(), "us-east-1".into());
            }
        }
        2 => task.hostname = Some(rng.pick(HOSTNAMES).into()),
        3 => task.kubernetes_namespace = Some(rng.pick(NAMESPACES).into()),
        4 => task.git_branch = Some(rng.pick(BRANCHES).into()),
        5 => {
            task.paths = (0..=rng.below(3))
                .map(|_| rng.pick(PATHS).to_owned())
                .collect();
        }
        6 => {
            // Several signals that may disagree, as real tasks do.
            task.environment = parse(rng.pick(ENVIRONMENTS));
            task.git_branch = Some(rng.pick(BRANCHES).into());
            if rng.chance(50) {
                task.hostname = Some(rng.pick(HOSTNAMES).into());
            }
        }
        _ => {} // no signal, or only whatever the description says
    }
    if rng.chance(8) {
        task.production = Some(true);
    }
    if rng.chance(3) {
        task.critical = Some(true);
    }

    // Operations: none, reads only, or a mix.
    match rng.below(6) {
        0 => {}
        1 => {
            task.operations = Some(
                (0..=rng.below(2))
                    .map(|_| rng.pick(READS).to_owned())
                    .collect(),
            );
        }
        _ => {
            task.operations = Some(
                (0..=rng.below(3))
                    .map(|_| rng.pick(OPERATIONS).to_owned())
                    .collect(),
            );
        }
    }
    match rng.below(10) {
        0 => task.read_only = Some(true),
        1 => task.read_only = Some(false),
        _ => {}
    }

    if rng.chance(55) {
        task.data_types = (0..=rng.below(2))
            .map(|_| rng.pick(DATA_TYPES).to_owned())
            .collect();
    }
    task.services_affected = (0..rng.below(5))
        .map(|_| rng.pick(SERVICES).to_owned())
        .collect();
    task.regions = (0..rng.below(4))
        .map(|_| rng.pick(REGIONS).to_owned())
        .collect();
    task.customers_affected = match rng.below(6) {
        0 => None,
        1 => Some(0),
        2 => Some(rng.below(1_000) as u64),
        3 => Some(1_000 + rng.below(9_000) as u64),
        _ => Some(rng.below(100_001) as u64),
    };
    if rng.chance(15) {
        task.customer_facing = Some(rng.chance(70));
    }
    if rng.chance(20) {
        let all = ComplianceFramework::ALL;
        task.compliance_frameworks = (0..=rng.below(2))
            .map(|_| all[rng.below(all.len())])
            .collect();
    }

    // Declared categories, sometimes lower than what detection will find.
    if rng.chance(15) {
        task.reversibility = Some(Reversibility::ALL[rng.below(Reversibility::ALL.len())]);
    }
    if rng.chance(10) {
        task.data_sensitivity = Some(DataSensitivity::ALL[rng.below(DataSensitivity::ALL.len())]);
    }
    if rng.chance(10) {
        task.impact_scope = Some(ImpactScope::ALL[rng.below(ImpactScope::ALL.len())]);
    }
    if rng.chance(10) {
        task.customer_impact = Some(CustomerImpact::ALL[rng.below(CustomerImpact::ALL.len())]);
    }
    if rng.chance(20) {
        task.estimated_tokens = Some(rng.below(80_000) as u64);
    }

    task.description = Some(description(rng));
    task
}

/// 5 to 30 words: 5 to 24 slots, up to two of them signal phrases of at most four words.
fn description(rng: &mut XorShift) -> String {
    let words = 5 + rng.below(20);
    let mut out: Vec<&str> = Vec::with_capacity(words + 8);
    let signals = rng.below(3);
    let mut signal_at: Vec<usize> = (0..signals).map(|_| rng.below(words)).collect();
    signal_at.sort_unstable();
    for i in 0..words {
        if signal_at.contains(&i) {
            out.push(rng.pick(SIGNAL_PHRASES));
        } else {
            out.push(rng.pick(WORDS));
        }
    }
    out.join(" ")
}

fn parse(environment: &str) -> Option<Environment> {
    environment.parse().ok()
}
