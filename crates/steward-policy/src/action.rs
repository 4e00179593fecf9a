//! What an operation does, in the policy's own vocabulary: the one classification that
//! both the analysis of a task's operations and the run-time check (authorize) apply, and
//! the matcher that decides whether an action an agent sends is one of a permit's listed
//! operations.
//!
//! An operation's classes are the risky kinds its text names (schema change,
//! infrastructure, security operation, data deletion, and destructive for irreversible
//! deletions), plus `read` when its leading words are a read verb or `change` otherwise.
//! A permit's scope is a set of classes; an action is in scope by class only when every
//! class it has is in that set.
//!
//! INVARIANT: matching a listed operation never widens a class: an action matches a
//! listed operation only when its classes are a subset of the listed operation's.

use std::fmt;

use crate::analysis::Analysis;
use crate::model::{Environment, Level, OperationKind, PermitType};
use crate::policy::{Policy, Tag};
use crate::task::Task;
use crate::vocab::{lowercase, tokenize};

/// One class of operation (SPEC §3.4), least to most demanding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ActionClass {
    /// Reads only: `SELECT`, `get`, `list`, `kubectl get`, …
    Read,
    /// Any other change: a deploy, a restart, a configuration change.
    Change,
    SchemaChange,
    Infrastructure,
    Security,
    /// Deletes data (`delete user 42`, `DELETE FROM t WHERE id = 1`).
    DataDeletion,
    /// Irreversible deletion (`DROP TABLE`, `TRUNCATE`, `rm -rf`, a mass `DELETE`): in
    /// production it needs a `destructive` permit (SPEC §6.1).
    Destructive,
}

impl ActionClass {
    pub const ALL: [ActionClass; 7] = [
        ActionClass::Read,
        ActionClass::Change,
        ActionClass::SchemaChange,
        ActionClass::Infrastructure,
        ActionClass::Security,
        ActionClass::DataDeletion,
        ActionClass::Destructive,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ActionClass::Read => "read",
            ActionClass::Change => "change",
            ActionClass::SchemaChange => "schema_change",
            ActionClass::Infrastructure => "infrastructure",
            ActionClass::Security => "security",
            ActionClass::DataDeletion => "data_deletion",
            ActionClass::Destructive => "destructive",
        }
    }

    /// The class of a risky operation kind.
    pub fn of_kind(kind: OperationKind) -> ActionClass {
        match kind {
            OperationKind::SchemaMigration => ActionClass::SchemaChange,
            OperationKind::Infrastructure => ActionClass::Infrastructure,
            OperationKind::Security => ActionClass::Security,
            OperationKind::DataDeletion => ActionClass::DataDeletion,
        }
    }

    fn bit(self) -> u8 {
        1 << (self as u8)
    }
}

impl fmt::Display for ActionClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for ActionClass {
    type Err = crate::UnknownValueError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ActionClass::ALL
            .iter()
            .copied()
            .find(|c| c.as_str() == s)
            .ok_or_else(|| crate::UnknownValueError {
                what: "action class",
                value: s.to_owned(),
                expected: &[
                    "read",
                    "change",
                    "schema_change",
                    "infrastructure",
                    "security",
                    "data_deletion",
                    "destructive",
                ],
            })
    }
}

/// A set of classes. Copy, allocation-free.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct ActionClasses(u8);

impl ActionClasses {
    pub const EMPTY: ActionClasses = ActionClasses(0);

    pub fn of(classes: &[ActionClass]) -> ActionClasses {
        classes
            .iter()
            .fold(ActionClasses::EMPTY, |set, c| set.with(*c))
    }

    #[must_use]
    pub fn with(self, class: ActionClass) -> ActionClasses {
        ActionClasses(self.0 | class.bit())
    }

    #[must_use]
    pub fn union(self, other: ActionClasses) -> ActionClasses {
        ActionClasses(self.0 | other.0)
    }

    pub fn contains(self, class: ActionClass) -> bool {
        self.0 & class.bit() != 0
    }

    pub fn is_subset_of(self, other: ActionClasses) -> bool {
        self.0 & !other.0 == 0
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// Only reads: no change and no risky class.
    pub fn is_read(self) -> bool {
        self == ActionClasses::EMPTY.with(ActionClass::Read)
    }

    /// The most demanding class in the set (`read` for an empty set).
    pub fn riskiest(self) -> ActionClass {
        ActionClass::ALL
            .iter()
            .rev()
            .copied()
            .find(|c| self.contains(*c))
            .unwrap_or(ActionClass::Read)
    }

    /// The set from class names; `None` when one is not a class.
    pub fn parse<'a>(names: impl IntoIterator<Item = &'a str>) -> Option<ActionClasses> {
        names
            .into_iter()
            .try_fold(ActionClasses::EMPTY, |set, name| {
                name.parse::<ActionClass>().ok().map(|c| set.with(c))
            })
    }

    /// The classes' names, least demanding first (the form in a permit's constraints).
    pub fn names(self) -> Vec<&'static str> {
        self.iter().map(ActionClass::as_str).collect()
    }

    pub fn iter(self) -> impl Iterator<Item = ActionClass> {
        ActionClass::ALL
            .into_iter()
            .filter(move |c| self.contains(*c))
    }
}

/// The classes a permit for `task` covers: those of its operations, the risky kinds and
/// destruction its analysis found anywhere in it, and `change` unless it only reads. An
/// action of only these classes is in the permit's scope (SPEC §7, issue 9).
pub fn permit_classes(policy: &Policy, task: &Task, analysis: &Analysis) -> ActionClasses {
    let mut classes = ActionClasses::EMPTY.with(ActionClass::Read);
    for op in task.operations() {
        classes = classes.union(classify_action(policy, op).classes());
    }
    for kind in &analysis.signals.risky_operations {
        classes = classes.with(ActionClass::of_kind(*kind));
    }
    if analysis.signals.destructive {
        classes = classes.with(ActionClass::Destructive);
    }
    if !analysis.signals.read_only {
        classes = classes.with(ActionClass::Change);
    }
    classes
}

/// An action's text, lower-cased and split into the policy's tokens, with its classes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Action {
    lower: String,
    tokens: Vec<(usize, usize)>,
    classes: ActionClasses,
}

impl Action {
    pub fn classes(&self) -> ActionClasses {
        self.classes
    }

    fn token(&self, i: usize) -> Option<&str> {
        self.tokens.get(i).map(|&(s, e)| &self.lower[s..e])
    }

    fn token_iter(&self) -> impl Iterator<Item = &str> {
        self.tokens.iter().map(|&(s, e)| &self.lower[s..e])
    }
}

/// Classifies one operation's text with the policy's vocabulary: the classification the
/// analysis applies to each of a task's `operations`, and authorize to each action.
pub fn classify_action(policy: &Policy, text: &str) -> Action {
    let lower = lowercase(text);
    let mut tokens = Vec::with_capacity(8);
    tokenize(&lower, &mut tokens);
    let classes = classify_tokens(policy, &lower, &tokens, |_, _| {});
    Action {
        lower,
        tokens,
        classes,
    }
}

/// The classes of already lower-cased and tokenized `lower`, calling `found(tag, phrase)`
/// for every operation or data signal on the way (the analysis records them as evidence).
pub(crate) fn classify_tokens(
    policy: &Policy,
    lower: &str,
    tokens: &[(usize, usize)],
    mut found: impl FnMut(Tag, &str),
) -> ActionClasses {
    let mut classes = ActionClasses::EMPTY;
    policy.lexicon.scan_tokens(lower, tokens, |tag, phrase| {
        match tag {
            Tag::Env(_) | Tag::Read => return,
            Tag::Op(kind) => classes = classes.with(ActionClass::of_kind(kind)),
            Tag::Destructive => {
                if is_destructive(phrase, lower) {
                    classes = classes.with(ActionClass::Destructive);
                }
            }
            Tag::Sensitive(_) | Tag::Data(_) | Tag::SystemWide | Tag::CustomerFacing => {}
        }
        found(tag, phrase);
    });
    let verb = if is_read(policy, lower, tokens) {
        ActionClass::Read
    } else {
        ActionClass::Change
    };
    classes.with(verb)
}

/// A destructive phrase found in `lower` makes the operation destructive, except a
/// `DELETE FROM … WHERE` naming one row by key, which is not a mass deletion.
pub(crate) fn is_destructive(phrase: &str, lower: &str) -> bool {
    !(phrase.eq_ignore_ascii_case("delete from") && has_narrow_key(lower))
}

/// True when a `DELETE … WHERE` names one row by key (`WHERE id = 42`, `WHERE user_id = $1`),
/// which is not a mass deletion. Anything looser (ranges, `OR`, `IN`, `LIKE`) is not narrow.
fn has_narrow_key(lower: &str) -> bool {
    let Some(at) = lower.find(" where ") else {
        return false;
    };
    let clause = &lower[at + 7..];
    if [
        " or ",
        " in ",
        " in(",
        " like ",
        "<",
        ">",
        "!=",
        " between ",
        " not ",
    ]
    .iter()
    .any(|bad| clause.contains(bad))
    {
        return false;
    }
    let ident_end = clause
        .find(|c: char| !(c.is_alphanumeric() || "_.\"`".contains(c)))
        .unwrap_or(clause.len());
    let ident = clause[..ident_end].trim_matches(|c| c == '"' || c == '`');
    let ident = ident.rsplit('.').next().unwrap_or(ident);
    let narrow_name = ident == "id"
        || ident == "uuid"
        || ident == "pk"
        || ident == "key"
        || ident.ends_with("_id")
        || ident.ends_with("_uuid");
    narrow_name && clause[ident_end..].trim_start().starts_with('=')
}

/// Whether the operation's leading words are a read verb. Only the leading words decide:
/// a read verb later in the text ("deploy and list") does not make the operation a read.
fn is_read(policy: &Policy, lower: &str, tokens: &[(usize, usize)]) -> bool {
    let Some(&(s0, e0)) = tokens.first() else {
        return false;
    };
    let first = &lower[s0..e0];
    let mut read = false;
    let lead_end = tokens.get(1).map_or(e0, |&(_, e)| e);
    policy
        .lexicon
        .scan_tokens(lower, &tokens[..tokens.len().min(2)], |tag, phrase| {
            if tag == Tag::Read {
                let n = phrase.split_whitespace().count();
                if n == 1 && phrase.eq_ignore_ascii_case(first) || n == 2 && lead_end > e0 {
                    read = true;
                }
            }
        });
    read
}

/// One of a permit's listed operations, normalized once (when the permit is cached) so
/// that matching an action costs a token comparison.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedOperation {
    text: String,
    tokens: Box<[Box<str>]>,
    classes: ActionClasses,
}

impl ListedOperation {
    pub fn new(policy: &Policy, text: &str) -> ListedOperation {
        let action = classify_action(policy, text);
        ListedOperation {
            text: text.to_owned(),
            tokens: action.token_iter().map(Into::into).collect(),
            classes: action.classes,
        }
    }

    /// The operation as the task listed it.
    pub fn text(&self) -> &str {
        &self.text
    }

    pub fn classes(&self) -> ActionClasses {
        self.classes
    }

    /// Whether `action` is this operation as an agent would send it: the same verb (first
    /// word) and every word of the listed operation in order, ignoring case, whitespace
    /// and punctuation, so a full command line with its flags matches (`deploy api` matches
    /// `DEPLOY  api --version 2.1`). Never when the action has a class the listed operation
    /// has not (`deploy api && DROP TABLE x` never matches `deploy api`).
    pub fn matches(&self, action: &Action) -> bool {
        let Some(verb) = self.tokens.first() else {
            return false;
        };
        if action.token(0) != Some(&**verb) || !action.classes.is_subset_of(self.classes) {
            return false;
        }
        let mut rest = action.token_iter().skip(1);
        self.tokens[1..]
            .iter()
            .all(|want| rest.any(|got| got == &**want))
    }
}

/// The least a permit covering an action must be: its level and type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ActionRequirement {
    pub level: Level,
    /// `None` when the action needs no permit (a read or change outside production).
    pub permit_type: Option<PermitType>,
}

/// The least level and permit type an action of `classes` needs in `environment` under the
/// policy's floors (SPEC §3.4, §6.1), from its classes alone: the task around it may need
/// more (sensitive data, several services, compliance).
pub fn action_requirement(
    policy: &Policy,
    classes: ActionClasses,
    environment: Environment,
) -> ActionRequirement {
    let floors = policy.floors();
    let risky = [
        ActionClass::SchemaChange,
        ActionClass::Infrastructure,
        ActionClass::Security,
        ActionClass::DataDeletion,
        ActionClass::Destructive,
    ]
    .iter()
    .any(|c| classes.contains(*c));
    let writes = !classes.is_read();
    let level = |floor: u8| Level::new(floor.min(4)).unwrap_or(Level::MASTER);
    let needed = if environment.is_production_like() {
        let mut l = if writes {
            level(floors.production_write)
        } else {
            level(floors.production_read_only)
        };
        if risky {
            l = l.max(level(floors.risky_operation_production));
        }
        l
    } else if environment == Environment::Staging {
        let base = Level::BASIC;
        if risky {
            base.max(level(floors.risky_operation_staging))
        } else {
            base
        }
    } else {
        Level::NON_UNION
    };
    let permit_required =
        needed >= Level::STANDARD || (needed == Level::BASIC && environment.is_production_like());
    let permit_type = permit_required.then(|| {
        if classes.contains(ActionClass::Destructive) && environment.is_production_like() {
            PermitType::Destructive
        } else {
            match needed.value() {
                0 | 1 => PermitType::ReadOnly,
                2 => PermitType::StandardProduction,
                3 => PermitType::AdvancedProduction,
                _ => PermitType::MasterProduction,
            }
        }
    });
    ActionRequirement {
        level: needed,
        permit_type,
    }
}

#[cfg(test)]
mod tests;
