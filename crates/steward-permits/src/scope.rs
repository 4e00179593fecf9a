//! What a permit request must name about its own scope (issue 9): no list in a permit's
//! constraints ever means "anything", so a request at level ≥ 2 names the operations and
//! the services it covers, or it is refused with the fields that are missing.

use std::fmt;

use steward_policy::Level;

/// A part of the task that bounds a permit's scope.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ScopeField {
    /// `task.operations`: what the worker will do.
    Operations,
    /// `task.services_affected`: what it will do it to.
    ServicesAffected,
}

impl ScopeField {
    /// The field's name in the task (SPEC §2).
    pub fn as_str(self) -> &'static str {
        match self {
            ScopeField::Operations => "operations",
            ScopeField::ServicesAffected => "services_affected",
        }
    }
}

impl fmt::Display for ScopeField {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The scope fields a permit request at `level` lacks, in task order. From level 2 up,
/// `operations` and `services_affected` must each name at least one non-blank entry; a
/// list of blanks names nothing. Below level 2 (read-only permits) nothing is required:
/// the permit's scope is then the classes its analysis found (reads), never anything.
pub fn missing_scope(level: Level, operations: &[String], services: &[String]) -> Vec<ScopeField> {
    if level < Level::STANDARD {
        return Vec::new();
    }
    let names_nothing = |list: &[String]| list.iter().all(|s| s.trim().is_empty());
    let mut missing = Vec::new();
    if names_nothing(operations) {
        missing.push(ScopeField::Operations);
    }
    if names_nothing(services) {
        missing.push(ScopeField::ServicesAffected);
    }
    missing
}

#[cfg(test)]
mod tests;
