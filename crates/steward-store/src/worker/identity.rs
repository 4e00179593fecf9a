//! Worker identities (issue 12): the agent principal, role `worker`, that a worker
//! authenticates as, and its tokens. The worker's owner (a master, or a human) manages
//! them itself, so each agent it spawns acts as itself and no admin is needed per spawn.
//!
//! The identity is always an agent holding exactly the role `worker`: nothing here takes
//! roles, so an owner can mint no other kind of principal; and a token is only ever
//! minted for the identity bound to a worker the caller owns.

use steward_permits::{
    check_token_revocation, identity_name, identity_of, may_manage, plan_identity,
};
use steward_policy::Role;

use super::{Worker, WorkerError, about, append_events, caller_facts, row};
use crate::caller::Caller;
use crate::principal::{Principal, PrincipalKind, insert_principal};
use crate::store::{self, Store, new_id};
use crate::token::{NewToken, TokenInfo, TokenRevocation, mint_in, revoke_in};

/// A token to mint for a worker's identity. The caller made the secret with
/// [`crate::token::generate`] and hands it to the agent it spawns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewWorkerToken {
    pub label: String,
    /// Unix milliseconds (wall clock, as token expiry is checked); `None` expires with the
    /// minting token.
    pub expires_at_ms: Option<i64>,
    pub secret_hash: [u8; 32],
}

impl Store {
    /// Creates worker `worker_id`'s identity: an agent principal holding only the role
    /// `worker` (named `name`, or `worker:<worker id>`), bound to the worker. Records
    /// `principal.created` and `worker.identity_created`, both about the worker.
    ///
    /// Only the worker's owner or an admin; a worker has at most one identity.
    pub async fn create_worker_identity(
        &self,
        by: &Caller,
        worker_id: &str,
        name: Option<String>,
        now_ms: i64,
    ) -> Result<(Worker, Principal), WorkerError> {
        let name = identity_name(worker_id, name.as_deref())?;
        let mut tx = self.begin().await?;
        let worker = row::lock(&mut tx, worker_id).await?;
        let identity = Principal {
            id: new_id(),
            kind: PrincipalKind::Agent,
            name,
            roles: vec![Role::Worker],
            created_at_ms: store::now_ms(),
            disabled_at_ms: None,
        };
        let event = plan_identity(&caller_facts(by), &worker.facts(), &identity.id)?;
        let actor = by.actor();
        insert_principal(&mut tx, &actor, &identity, about(&worker.id)).await?;
        let bound = row::bind_identity(&mut tx, &worker, &identity.id, now_ms).await?;
        append_events(&mut tx, &actor, &bound.id, vec![event], now_ms).await?;
        tx.commit().await?;
        Ok((bound, identity))
    }

    /// Mints a token for worker `worker_id`'s identity with the caller's token
    /// `parent_token_id`, and records `token.created` about the worker. Only the worker's
    /// owner or an admin; the worker needs an identity. Like every minted token it
    /// expires no later than its parent and is revoked with it.
    pub async fn create_worker_token(
        &self,
        by: &Caller,
        parent_token_id: &str,
        worker_id: &str,
        new: NewWorkerToken,
    ) -> Result<TokenInfo, WorkerError> {
        let mut tx = self.begin().await?;
        let worker = row::lock(&mut tx, worker_id).await?;
        let facts = worker.facts();
        may_manage(&caller_facts(by), &facts, "mint tokens for it")?;
        let identity = identity_of(&facts)?.to_owned();
        let token = mint_in(
            &mut tx,
            &by.actor(),
            parent_token_id,
            NewToken {
                principal_id: identity,
                label: new.label,
                expires_at_ms: new.expires_at_ms,
                secret_hash: new.secret_hash,
            },
            about(&worker.id),
        )
        .await?;
        tx.commit().await?;
        Ok(token)
    }

    /// The tokens of worker `worker_id`'s identity, revoked and expired ones included,
    /// oldest first (empty without an identity). Only the worker's owner or an admin.
    pub async fn worker_tokens(
        &self,
        by: &Caller,
        worker_id: &str,
    ) -> Result<Vec<TokenInfo>, WorkerError> {
        let worker = self.worker(worker_id).await?;
        may_manage(&caller_facts(by), &worker.facts(), "list its tokens")?;
        match &worker.principal_id {
            Some(identity) => Ok(self.list_tokens(identity).await?),
            None => Ok(Vec::new()),
        }
    }

    /// Revokes one of worker `worker_id`'s identity tokens, and every token minted with
    /// it, recording `token.revoked` about the worker; revoking a revoked token changes
    /// nothing. Only the worker's owner or an admin, and only a token of that worker's
    /// identity (any other is `NotFound`).
    pub async fn revoke_worker_token(
        &self,
        by: &Caller,
        worker_id: &str,
        token_id: &str,
    ) -> Result<TokenRevocation, WorkerError> {
        // Which principal a token belongs to never changes: read it before the write.
        let token = self.token_by_id(token_id).await?;
        let mut tx = self.begin().await?;
        let worker = row::lock(&mut tx, worker_id).await?;
        let caller = caller_facts(by);
        check_token_revocation(&caller, &worker.facts(), token_id, &token.principal_id)?;
        let revoked = revoke_in(
            &mut tx,
            &by.actor(),
            token_id,
            about(&worker.id),
            store::now_ms(),
        )
        .await?;
        Ok(self.settle_revocation(tx, token_id, revoked).await?)
    }
}
