//! The regorus peer: Steward's scoring written in Rego (`scoring.rego`), its inputs, and the
//! check that it agrees with Steward on every task before anyone compares their speed.
//!
//! Detection stays in Steward. Each Rego input carries the categories and signals Steward's
//! own analysis found (`risk_assessment.factors[i].category`, `environment_detected`,
//! `signals`), plus the task's declared lists, so both engines score the same facts.
//!
//! regorus evaluates Rego two ways: its tree-walking interpreter (`Engine::eval_rule`) and
//! its bytecode VM (`RegoVM`, feature `rvm`). The VM is the faster, so it is the peer the
//! benchmark reports as `regorus/scoring`; the interpreter is measured alongside.

use regorus::languages::rego::compiler::Compiler;
use regorus::rvm::vm::RegoVM;
use regorus::{Engine, Value};
use steward_policy::{Analysis, Task};

/// The Rego policy, compiled once per engine or VM.
pub const POLICY: &str = include_str!("scoring.rego");

/// The rule the benchmark evaluates.
pub const RULE: &str = "data.steward.result";

/// An interpreter with `scoring.rego` loaded and ready to evaluate.
pub fn engine() -> Engine {
    let mut engine = Engine::new();
    engine
        .add_policy("scoring.rego".to_owned(), POLICY.to_owned())
        .expect("scoring.rego parses");
    engine
}

/// A VM with `scoring.rego` compiled to bytecode for `RULE`, and an empty data document.
pub fn vm() -> RegoVM {
    let compiled = engine()
        .compile_with_entrypoint(&RULE.into())
        .expect("scoring.rego compiles");
    let program = Compiler::compile_from_policy(&compiled, &[RULE]).expect("RVM program compiles");
    let mut vm = RegoVM::new_with_policy(compiled);
    vm.load_program(program);
    vm.set_data(Value::new_object())
        .expect("an empty data document is valid");
    vm
}

/// The Rego input for `task`, from the categories and signals in Steward's `analysis`.
pub fn input(task: &Task, analysis: &Analysis) -> Value {
    let mut object = serde_json::Map::new();
    object.insert(
        "environment".into(),
        analysis.environment_detected.as_str().into(),
    );
    for factor in &analysis.risk_assessment.factors {
        let name = serde_json::to_value(factor.factor).expect("factor names serialize");
        let name = name.as_str().expect("factor names are strings").to_owned();
        object.insert(name, factor.category.clone().into());
    }
    let signals = &analysis.signals;
    object.insert("read_only".into(), signals.read_only.into());
    object.insert(
        "risky_operation".into(),
        (signals.destructive || !signals.risky_operations.is_empty()).into(),
    );
    object.insert("customer_facing".into(), signals.customer_facing.into());
    object.insert(
        "services_affected".into(),
        task.services_affected.clone().into(),
    );
    object.insert("regions".into(), task.regions.clone().into());
    object.insert(
        "compliance_frameworks".into(),
        task.compliance_frameworks
            .iter()
            .map(|f| f.as_str())
            .collect::<Vec<_>>()
            .into(),
    );
    Value::from(serde_json::Value::Object(object))
}

/// Evaluates `RULE` for one input on the VM. This is the timed work of `regorus/scoring`.
pub fn eval(vm: &mut RegoVM, input: &Value) -> Value {
    // `Value` is reference-counted, so the clone is a pointer copy.
    vm.set_input(input.clone());
    vm.execute_entry_point_by_name(RULE)
        .expect("scoring.rego runs on the VM")
}

/// Evaluates `RULE` for one input on the interpreter (`regorus/scoring_interpreter`).
pub fn eval_interpreted(engine: &mut Engine, input: &Value) -> Value {
    engine.set_input(input.clone());
    engine
        .eval_rule(RULE.to_owned())
        .expect("scoring.rego evaluates")
}

/// Every task on which `eval`'s total, risk level or required level differs from Steward's,
/// described for a person. Empty when the engines agree.
pub fn disagreements(
    tasks: &[Task],
    analyses: &[Analysis],
    inputs: &[Value],
    mut eval: impl FnMut(&Value) -> Value,
) -> Vec<String> {
    let mut out = Vec::new();
    for ((task, analysis), input) in tasks.iter().zip(analyses).zip(inputs) {
        let result = eval(input);
        let rego = (
            result["total"].as_u64().ok(),
            result["risk_level"]
                .as_string()
                .ok()
                .map(|s| s.as_ref().to_owned()),
            result["level"].as_u64().ok(),
        );
        let steward = (
            Some(u64::from(analysis.risk_assessment.total_risk_score)),
            Some(analysis.risk_assessment.risk_level.as_str().to_owned()),
            Some(u64::from(analysis.level().value())),
        );
        if rego != steward {
            out.push(format!(
                "{}: steward (total, risk_level, level) = {steward:?}, rego = {rego:?}; rego input {input}",
                task.id.as_deref().unwrap_or("?"),
            ));
        }
    }
    out
}
