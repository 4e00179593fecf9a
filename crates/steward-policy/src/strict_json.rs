//! Strict JSON input, shared by the HTTP API and the CLI: UTF-8 only, no trailing data, no
//! duplicate key in any object at any depth (serde keeps the last one silently, so a
//! second `"operations"` inside a `task` could hide what a reviewer read), optionally an
//! object at the top, and every refusal names the JSON path of the bad value.
//!
//! Parsing is two passes over the text: a scan that refuses duplicate keys (it builds
//! nothing but each object's set of keys), then serde with the path of any error.

use std::collections::HashSet;
use std::fmt;

use serde::de::{self, DeserializeOwned, DeserializeSeed, MapAccess, SeqAccess, Visitor};

/// What kind of refusal a [`JsonError`] is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JsonErrorKind {
    /// The bytes are not UTF-8.
    NotUtf8,
    /// Not JSON at all, truncated, or followed by trailing data.
    Syntax,
    /// An object repeats a key; `key` is the repeated key.
    DuplicateKey { key: String },
    /// The document is not a JSON object where one is required; `got` names what it is
    /// (`an array`, `a string`, …).
    NotObject { got: &'static str },
    /// Well-formed JSON the target type refuses (unknown field, wrong type, …).
    Schema,
}

/// A refused JSON document. `path` is the JSON path of the offending value (`a.b[2].c`),
/// empty for the document itself.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}{message}", if path.is_empty() { String::new() } else { format!("`{path}`: ") })]
pub struct JsonError {
    pub kind: JsonErrorKind,
    pub path: String,
    pub message: String,
}

impl JsonError {
    fn whole(kind: JsonErrorKind, message: impl Into<String>) -> JsonError {
        JsonError {
            kind,
            path: String::new(),
            message: message.into(),
        }
    }

    /// The rule the refusal breaks, for problem documents: `malformed_json`,
    /// `duplicate_key`, `body_not_object` or `invalid_field`.
    pub fn rule(&self) -> crate::Refusal {
        use crate::Refusal;
        match self.kind {
            JsonErrorKind::NotUtf8 | JsonErrorKind::Syntax => Refusal::MalformedJson,
            JsonErrorKind::DuplicateKey { .. } => Refusal::DuplicateKey,
            JsonErrorKind::NotObject { .. } => Refusal::BodyNotObject,
            JsonErrorKind::Schema => Refusal::InvalidField,
        }
    }
}

/// What the top of the document must be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Top {
    /// A JSON object (a request body, a task): an array is never read positionally.
    Object,
    /// Any JSON value (a file holding an array of tasks, say).
    Any,
}

/// Parses `bytes` strictly into `T`: UTF-8, then [`from_str`].
pub fn from_slice<T: DeserializeOwned>(bytes: &[u8], top: Top) -> Result<T, JsonError> {
    let text = std::str::from_utf8(bytes).map_err(|e| {
        JsonError::whole(
            JsonErrorKind::NotUtf8,
            format!("not valid UTF-8 (bad byte at offset {})", e.valid_up_to()),
        )
    })?;
    from_str(text, top)
}

/// Parses `text` strictly into `T`: well-formed JSON with nothing after it, no duplicate
/// key anywhere, an object at the top when `top` says so, then `T`'s own rules, each error
/// naming its JSON path.
pub fn from_str<T: DeserializeOwned>(text: &str, top: Top) -> Result<T, JsonError> {
    check(text, top)?;
    let mut de = serde_json::Deserializer::from_str(text);
    let value = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if inner.is_syntax() || inner.is_eof() {
            JsonError::whole(JsonErrorKind::Syntax, format!("malformed JSON: {inner}"))
        } else {
            JsonError {
                kind: JsonErrorKind::Schema,
                path: if path == "." { String::new() } else { path },
                message: inner.to_string(),
            }
        }
    })?;
    // `check` already refused trailing data; this only keeps the deserializer honest.
    de.end()
        .map_err(|e| JsonError::whole(JsonErrorKind::Syntax, format!("malformed JSON: {e}")))?;
    Ok(value)
}

/// Checks `text` without building anything: well-formed JSON, nothing after it, no
/// duplicate key at any depth, and an object at the top when `top` says so.
pub fn check(text: &str, top: Top) -> Result<(), JsonError> {
    let mut scan = ScanState {
        path: Vec::new(),
        duplicate: None,
        top_kind: None,
    };
    let mut de = serde_json::Deserializer::from_str(text);
    let result = Scan { state: &mut scan }
        .deserialize(&mut de)
        .and_then(|()| de.end());
    if let Some((path, key)) = scan.duplicate {
        return Err(JsonError {
            message: format!("duplicate key `{key}`: each key may appear once in an object"),
            kind: JsonErrorKind::DuplicateKey { key },
            path,
        });
    }
    result.map_err(|e| JsonError::whole(JsonErrorKind::Syntax, format!("malformed JSON: {e}")))?;
    match (top, scan.top_kind) {
        (Top::Object, Some(got)) if got != "an object" => Err(JsonError::whole(
            JsonErrorKind::NotObject { got },
            format!("the document must be a JSON object, got {got}"),
        )),
        _ => Ok(()),
    }
}

enum Segment {
    Key(String),
    Index(usize),
}

struct ScanState {
    path: Vec<Segment>,
    /// The first repeated key: the path to it (including it) and the key.
    duplicate: Option<(String, String)>,
    /// What the top-level value is, for [`Top::Object`].
    top_kind: Option<&'static str>,
}

impl ScanState {
    fn path_string(&self) -> String {
        let mut out = String::new();
        for segment in &self.path {
            match segment {
                Segment::Key(key) => {
                    if !out.is_empty() {
                        out.push('.');
                    }
                    out.push_str(key);
                }
                Segment::Index(i) => {
                    out.push('[');
                    out.push_str(&i.to_string());
                    out.push(']');
                }
            }
        }
        out
    }

    fn saw(&mut self, kind: &'static str) {
        if self.path.is_empty() && self.top_kind.is_none() {
            self.top_kind = Some(kind);
        }
    }
}

/// Visits one value, recursing into arrays and objects.
struct Scan<'a> {
    state: &'a mut ScanState,
}

impl<'de> DeserializeSeed<'de> for Scan<'_> {
    type Value = ();

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Scan<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        self.state.saw("a boolean");
        Ok(())
    }

    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        self.state.saw("a number");
        Ok(())
    }

    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        self.state.saw("a number");
        Ok(())
    }

    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        self.state.saw("a number");
        Ok(())
    }

    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        self.state.saw("a string");
        Ok(())
    }

    fn visit_unit<E>(self) -> Result<(), E> {
        self.state.saw("null");
        Ok(())
    }

    fn visit_none<E>(self) -> Result<(), E> {
        self.state.saw("null");
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        self.state.saw("an array");
        let mut index = 0;
        loop {
            self.state.path.push(Segment::Index(index));
            let more = seq.next_element_seed(Scan { state: self.state })?;
            self.state.path.pop();
            if more.is_none() {
                return Ok(());
            }
            index += 1;
        }
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        self.state.saw("an object");
        let mut seen = HashSet::new();
        while let Some(key) = map.next_key::<String>()? {
            self.state.path.push(Segment::Key(key.clone()));
            if !seen.insert(key.clone()) {
                self.state.duplicate = Some((self.state.path_string(), key));
                return Err(de::Error::custom("duplicate key"));
            }
            map.next_value_seed(Scan { state: self.state })?;
            self.state.path.pop();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
