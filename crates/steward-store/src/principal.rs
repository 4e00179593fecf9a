//! Principals: the humans and agents that call Steward, with their roles.

use std::fmt;
use std::str::FromStr;

use serde_json::json;
use sqlx::types::Json;
use steward_audit::event::{PrincipalCreated, PrincipalDisabled};
use steward_audit::{Actor, Personal, Subject};
use steward_policy::{Role, UnknownValueError};

use crate::audit::{NewEvent, append_event, append_unscoped_event};
use crate::caller::Caller;
use crate::error::{StoreError, conflict_as};
use crate::store::{Store, Tx, in_pool, in_tx, new_id, now_ms, on_tx};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PrincipalKind {
    Human,
    Agent,
}

/// A principal to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewPrincipal {
    pub kind: PrincipalKind,
    /// Unique and non-empty.
    pub name: String,
    pub roles: Vec<Role>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub id: String,
    pub kind: PrincipalKind,
    pub name: String,
    pub roles: Vec<Role>,
    /// Unix milliseconds.
    pub created_at_ms: i64,
    /// Unix milliseconds; a disabled principal's tokens no longer authenticate.
    pub disabled_at_ms: Option<i64>,
}

impl Store {
    /// Creates a principal and records `principal.created`, acted by `by`.
    ///
    /// A taken name is a [`StoreError::Conflict`].
    pub async fn create_principal(
        &self,
        by: &Caller,
        new: NewPrincipal,
    ) -> Result<Principal, StoreError> {
        let now = now_ms();
        let principal = Principal {
            id: new_id(),
            kind: new.kind,
            name: new.name,
            roles: new.roles,
            created_at_ms: now,
            disabled_at_ms: None,
        };
        let mut tx = self.begin().await?;
        insert_principal(&mut tx, &by.actor(), &principal, Subject::default()).await?;
        tx.commit().await?;
        Ok(principal)
    }

    /// Disables a principal, so none of its tokens authenticate any more, and records
    /// `principal.disabled`. Disabling a disabled principal changes nothing and records
    /// nothing.
    pub async fn disable_principal(&self, by: &Caller, id: &str) -> Result<Principal, StoreError> {
        let now = now_ms();
        let mut tx = self.begin().await?;
        const SQL: &str =
            "UPDATE principals SET disabled_at = $1 WHERE id = $2 AND disabled_at IS NULL";
        if in_tx!(tx, execute, sqlx::query(SQL), now, id) == 1 {
            append_unscoped_event(
                &mut tx,
                now,
                by.actor(),
                PrincipalDisabled {
                    principal_id: id.to_owned(),
                },
            )
            .await?;
            tx.commit().await?;
        } else {
            tx.rollback().await?;
        }
        self.principal_by_id(id).await
    }

    pub async fn principal_by_id(&self, id: &str) -> Result<Principal, StoreError> {
        self.principal_where("id", id).await
    }

    pub async fn principal_by_name(&self, name: &str) -> Result<Principal, StoreError> {
        self.principal_where("name", name).await
    }

    /// Every principal, disabled ones included, ordered by name.
    pub async fn list_principals(&self) -> Result<Vec<Principal>, StoreError> {
        let sql = format!("SELECT {PRINCIPAL_COLUMNS} FROM principals ORDER BY name");
        let rows = in_pool!(
            self.pool,
            fetch_all,
            sqlx::query_as::<_, PrincipalRow>(&sql)
        );
        rows.into_iter().map(decode_principal).collect()
    }

    /// `column` is one of two literals chosen above, never input.
    async fn principal_where(
        &self,
        column: &'static str,
        value: &str,
    ) -> Result<Principal, StoreError> {
        let sql = format!("SELECT {PRINCIPAL_COLUMNS} FROM principals WHERE {column} = $1");
        match in_pool!(
            self.pool,
            fetch_optional,
            sqlx::query_as::<_, PrincipalRow>(&sql),
            value
        ) {
            Some(row) => decode_principal(row),
            None => Err(StoreError::NotFound {
                what: "principal",
                id: value.to_owned(),
            }),
        }
    }
}

/// Inserts `principal` and appends `principal.created` (about `subject`), inside `tx`.
/// A taken name is a [`StoreError::Conflict`].
pub(crate) async fn insert_principal(
    tx: &mut Tx<'_>,
    by: &Actor,
    principal: &Principal,
    subject: Subject,
) -> Result<(), StoreError> {
    const SQL: &str =
        "INSERT INTO principals (id, kind, name, roles, created_at) VALUES ($1, $2, $3, $4, $5)";
    let now = principal.created_at_ms;
    let inserted = on_tx!(tx, |conn| {
        sqlx::query(SQL)
            .bind(&principal.id)
            .bind(principal.kind.as_str())
            .bind(&principal.name)
            .bind(Json(role_names(&principal.roles)))
            .bind(now)
            .execute(&mut **conn)
            .await
            .map(drop)
    });
    conflict_as(inserted, || {
        format!("a principal named `{}` already exists", principal.name)
    })?;
    append_event(
        tx,
        NewEvent::typed(
            now,
            by.clone(),
            subject,
            None,
            PrincipalCreated {
                principal_id: principal.id.clone(),
                kind: principal.kind.as_str().to_owned(),
                roles: role_names(&principal.roles)
                    .into_iter()
                    .map(str::to_owned)
                    .collect(),
                // The name is personal data: stored encrypted for the principal itself.
                personal: Some(Personal::of(&principal.id).plain("name", json!(principal.name))),
            },
        )?,
    )
    .await?;
    Ok(())
}

impl Principal {
    /// This principal as the actor of an audit event, through the JSON API.
    pub fn actor(&self) -> Actor {
        self.caller().into_actor()
    }

    pub fn has_role(&self, role: Role) -> bool {
        self.roles.contains(&role)
    }
}

impl PrincipalKind {
    pub const ALL: [PrincipalKind; 2] = [PrincipalKind::Human, PrincipalKind::Agent];

    /// The name used in the database and on the wire.
    pub const fn as_str(self) -> &'static str {
        match self {
            PrincipalKind::Human => "human",
            PrincipalKind::Agent => "agent",
        }
    }
}

impl fmt::Display for PrincipalKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for PrincipalKind {
    type Err = UnknownValueError;

    fn from_str(s: &str) -> Result<PrincipalKind, UnknownValueError> {
        PrincipalKind::ALL
            .into_iter()
            .find(|kind| kind.as_str() == s)
            .ok_or_else(|| UnknownValueError {
                what: "principal kind",
                value: s.to_owned(),
                expected: &["human", "agent"],
            })
    }
}

/// The principal `id` read inside `tx`, if it exists.
pub(crate) async fn principal_in(
    tx: &mut Tx<'_>,
    id: &str,
) -> Result<Option<Principal>, StoreError> {
    let sql = format!("SELECT {PRINCIPAL_COLUMNS} FROM principals WHERE id = $1");
    let row = in_tx!(
        tx,
        fetch_optional,
        sqlx::query_as::<_, PrincipalRow>(&sql),
        id
    );
    row.map(decode_principal).transpose()
}

/// The `principals` columns, in [`PrincipalRow`]'s names; `roles` (JSONB on PostgreSQL)
/// is read as text.
pub(crate) const PRINCIPAL_COLUMNS: &str =
    "id, kind, name, CAST(roles AS TEXT) AS roles, created_at, disabled_at";

/// One `principals` row as [`PRINCIPAL_COLUMNS`] reads it.
#[derive(sqlx::FromRow)]
pub(crate) struct PrincipalRow {
    pub id: String,
    pub kind: String,
    pub name: String,
    /// JSON array of role names.
    pub roles: String,
    pub created_at: i64,
    pub disabled_at: Option<i64>,
}

pub(crate) fn decode_principal(row: PrincipalRow) -> Result<Principal, StoreError> {
    let bad = |problem: String| StoreError::corrupt("principal", &row.id, problem);
    let kind = row
        .kind
        .parse::<PrincipalKind>()
        .map_err(|e| bad(e.to_string()))?;
    let roles: Vec<Role> =
        serde_json::from_str(&row.roles).map_err(|e| bad(format!("roles: {e}")))?;
    Ok(Principal {
        id: row.id,
        kind,
        name: row.name,
        roles,
        created_at_ms: row.created_at,
        disabled_at_ms: row.disabled_at,
    })
}

fn role_names(roles: &[Role]) -> Vec<&'static str> {
    roles.iter().map(|role| role.as_str()).collect()
}
