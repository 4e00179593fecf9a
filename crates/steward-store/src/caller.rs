//! `Caller`: who a use case acts for. Every use case takes one: it checks roles and
//! segregation of duties on it and records it as the actor of the events it appends.

use steward_audit::{Actor, ActorKind, Channel};
use steward_policy::Role;

use crate::principal::{Principal, PrincipalKind};

/// Who a use case acts for: a principal (or Steward itself), the roles it holds, and the
/// door it came through (`None`: the JSON API), which each event it causes records as
/// `data.channel`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub id: String,
    pub kind: ActorKind,
    pub roles: Vec<Role>,
    pub channel: Option<Channel>,
}

impl Caller {
    /// Steward itself, or an operator's tool acting outside any principal (set-up,
    /// maintenance), under `id`.
    pub fn system(id: &str) -> Caller {
        Caller {
            id: id.to_owned(),
            kind: ActorKind::System,
            roles: Vec::new(),
            channel: None,
        }
    }

    /// The caller as the actor of an audit event.
    pub fn actor(&self) -> Actor {
        self.clone().into_actor()
    }

    /// [`Caller::actor`], consuming the caller (no copy of its id).
    pub fn into_actor(self) -> Actor {
        Actor {
            kind: self.kind,
            id: self.id,
            roles: self.roles.iter().map(|r| r.as_str().to_owned()).collect(),
            channel: self.channel,
        }
    }

    pub fn has_role(&self, role: Role) -> bool {
        self.roles.contains(&role)
    }

    pub fn is_human(&self) -> bool {
        self.kind == ActorKind::Human
    }
}

impl Principal {
    /// This principal as the caller of a use case, through the JSON API.
    pub fn caller(&self) -> Caller {
        Caller {
            id: self.id.clone(),
            kind: match self.kind {
                PrincipalKind::Human => ActorKind::Human,
                PrincipalKind::Agent => ActorKind::Agent,
            },
            roles: self.roles.clone(),
            channel: None,
        }
    }
}
