//! Evidence a permit request must carry (SPEC §6.3): what counts as provided, and what is
//! missing, in the order the requirements list it.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;
use steward_policy::Evidence;

/// Whether an evidence value counts as provided: `null`, `false`, a blank string and an
/// empty list or object do not.
pub fn is_provided(value: &Value) -> bool {
    match value {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::String(s) => !s.trim().is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
        Value::Number(_) => true,
    }
}

/// The evidence kinds of `evidence` whose values count as provided ([`is_provided`]).
pub fn provided_evidence(evidence: &BTreeMap<Evidence, Value>) -> BTreeSet<Evidence> {
    evidence
        .iter()
        .filter(|(_, v)| is_provided(v))
        .map(|(k, _)| *k)
        .collect()
}

/// The entries of `required` not in `provided`, in `required` order and without repeats.
/// An empty result means the request carries everything its level needs.
pub fn missing_evidence(required: &[Evidence], provided: &BTreeSet<Evidence>) -> Vec<Evidence> {
    let mut missing: Vec<Evidence> = Vec::new();
    for e in required {
        if !provided.contains(e) && !missing.contains(e) {
            missing.push(*e);
        }
    }
    missing
}

#[cfg(test)]
mod tests;
