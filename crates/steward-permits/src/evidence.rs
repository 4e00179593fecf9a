//! Evidence a permit request must carry (SPEC §6.3): what is missing, in the order the
//! requirements list it.

use std::collections::BTreeSet;

use steward_policy::Evidence;

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
