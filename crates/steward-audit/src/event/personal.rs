//! Personal values in event payloads: a person's free text ([`PersonalText`]) and the
//! personal values of one event with their subject ([`Personal`]).
//!
//! Neither type implements `Serialize` or `Display`, and their `Debug` shows no value, so
//! `json!`, `format!` or a payload's derive cannot put a person's text in plaintext
//! anywhere. A payload keeps its [`Personal`] in a field serde skips; the one way out is
//! [`Personal::unsealed_member`], which the store's audit append alone calls, right before
//! it encrypts the member for its subject (a test in `steward-store` checks that no other
//! code calls it).

use serde_json::{Map, Value, json};

/// Free text a person wrote (a comment, a reason, a review): personal data.
///
/// Request bodies deserialize free-text fields into it. It has no `Serialize` and no
/// `Display` impl, so `json!({"comment": text})` or `format!("{text}")` does not compile:
/// the only way into an audit event is a [`Personal`], which only the store's append
/// seals. A store column that keeps a copy outside the trail (cleared by erasure) takes it
/// through [`PersonalText::into_column`], a name that stands out in review.
#[derive(Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(transparent)]
pub struct PersonalText(String);

impl PersonalText {
    /// The text, for a column that erasure clears (never for event data).
    pub fn into_column(self) -> String {
        self.0
    }

    /// The text, for binding to a column that erasure clears (never for event data).
    pub fn as_column(&self) -> &str {
        &self.0
    }

    /// The text, for a rule that reads it (its length, whether it is blank), never to
    /// copy it anywhere.
    pub fn inspect(&self) -> &str {
        &self.0
    }
}

impl From<&str> for PersonalText {
    fn from(text: &str) -> PersonalText {
        PersonalText(text.to_owned())
    }
}

impl From<String> for PersonalText {
    fn from(text: String) -> PersonalText {
        PersonalText(text)
    }
}

impl std::fmt::Debug for PersonalText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Debug output ends up in logs: never the text itself.
        write!(f, "PersonalText({} bytes)", self.0.len())
    }
}

/// The personal values of one event and the subject (a principal id) they belong to,
/// whose key seals them. Built field by field; no `Serialize`, no `Display`.
#[derive(Clone, PartialEq)]
pub struct Personal {
    subject: String,
    values: Map<String, Value>,
}

impl Personal {
    /// No values yet, for `subject`.
    pub fn of(subject: impl Into<String>) -> Personal {
        Personal {
            subject: subject.into(),
            values: Map::new(),
        }
    }

    /// Adds a person's free text (`null` when absent).
    #[must_use]
    pub fn text(mut self, field: &str, text: Option<&PersonalText>) -> Personal {
        let value = text.map_or(Value::Null, |t| Value::String(t.0.clone()));
        self.values.insert(field.to_owned(), value);
        self
    }

    /// Adds a list of a person's free texts.
    #[must_use]
    pub fn texts(mut self, field: &str, texts: &[PersonalText]) -> Personal {
        let values = texts.iter().map(|t| Value::String(t.0.clone())).collect();
        self.values.insert(field.to_owned(), Value::Array(values));
        self
    }

    /// Adds a personal value the store already holds as plain data (a principal's name,
    /// a token label, a reason kept in a column that erasure clears).
    #[must_use]
    pub fn plain(mut self, field: &str, value: Value) -> Personal {
        self.values.insert(field.to_owned(), value);
        self
    }

    /// Whose values these are.
    pub fn subject(&self) -> &str {
        &self.subject
    }

    /// The plaintext `personal` member, `{"subject": …, "values": {…}}`, for the store's
    /// audit append to encrypt before anything is hashed or written. Nothing else calls
    /// this (checked by a test in `steward-store`).
    pub fn unsealed_member(self) -> Value {
        json!({ "subject": self.subject, "values": Value::Object(self.values) })
    }
}

impl std::fmt::Debug for Personal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Debug output ends up in logs: the fields' names, never their values; sorted, so
        // the output does not depend on whether `serde_json` keeps insertion order (a
        // feature another crate of the build may switch on).
        let mut fields: Vec<&String> = self.values.keys().collect();
        fields.sort();
        f.debug_struct("Personal")
            .field("subject", &self.subject)
            .field("fields", &fields)
            .finish()
    }
}
