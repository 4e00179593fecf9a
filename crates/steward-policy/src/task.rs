//! The task input contract (SPEC §2): strict parsing that names the offending field.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::model::{
    ComplianceFramework, CustomerImpact, DataSensitivity, Environment, ImpactScope, Reversibility,
};
use crate::strict_json::{self, JsonErrorKind, Top};

/// A unit of work a master wants done. Every field is optional, but at least one of `id`,
/// `description` and `operations` must be present. Unknown fields are errors: a typo in
/// safety input must not pass silently.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Task {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment: Option<Environment>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub environment_variables: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kubernetes_namespace: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub git_branch: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub paths: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub production: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub critical: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer_facing: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_only: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operations: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub data_types: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub services_affected: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub regions: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customers_affected: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer_impact: Option<CustomerImpact>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub impact_scope: Option<ImpactScope>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reversibility: Option<Reversibility>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_sensitivity: Option<DataSensitivity>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub compliance_frameworks: Vec<ComplianceFramework>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub estimated_tokens: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub estimated_minutes: Option<u64>,
}

/// Why a task was refused. `path` is the JSON path of the offending value (`.` for the
/// document itself), so a user can find the typo.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}{message}", if path.is_empty() { String::new() } else { format!("`{path}`: ") })]
pub struct TaskError {
    pub path: String,
    pub message: String,
}

impl TaskError {
    fn whole(message: impl Into<String>) -> TaskError {
        TaskError {
            path: String::new(),
            message: message.into(),
        }
    }
}

impl Task {
    /// Parses one task from raw bytes: UTF-8, then JSON, then the schema.
    pub fn from_slice(bytes: &[u8]) -> Result<Task, TaskError> {
        let text = std::str::from_utf8(bytes).map_err(|e| {
            TaskError::whole(format!(
                "input is not valid UTF-8 (bad byte at offset {})",
                e.valid_up_to()
            ))
        })?;
        Task::from_json_str(text)
    }

    /// Parses one task from JSON text, strictly (`strict_json`): an object, no duplicate
    /// key at any depth, every error naming its JSON path.
    pub fn from_json_str(text: &str) -> Result<Task, TaskError> {
        let task: Task = strict_json::from_str(text, Top::Object).map_err(|e| match e.kind {
            JsonErrorKind::NotObject { got } => {
                TaskError::whole(format!("a task must be a JSON object, got {got}"))
            }
            _ => TaskError {
                path: e.path,
                message: e.message,
            },
        })?;
        task.validate()?;
        Ok(task)
    }

    /// Parses one task from an already-parsed JSON value (an element of an array, say).
    pub fn from_value(value: serde_json::Value) -> Result<Task, TaskError> {
        if !value.is_object() {
            return Err(TaskError::whole(format!(
                "a task must be a JSON object, got {}",
                json_kind(&value)
            )));
        }
        let task: Task = serde_path_to_error::deserialize(value).map_err(|e| {
            let path = e.path().to_string();
            TaskError {
                path: if path == "." { String::new() } else { path },
                message: e.into_inner().to_string(),
            }
        })?;
        task.validate()?;
        Ok(task)
    }

    fn validate(&self) -> Result<(), TaskError> {
        if self.id.is_none() && self.description.is_none() && self.operations.is_none() {
            return Err(TaskError::whole(
                "a task needs at least one of `id`, `description`, `operations`",
            ));
        }
        Ok(())
    }

    pub fn operations(&self) -> &[String] {
        self.operations.as_deref().unwrap_or_default()
    }
}

/// Names a JSON value's kind for error messages.
pub fn json_kind(value: &serde_json::Value) -> &'static str {
    match value {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests;
