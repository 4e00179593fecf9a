//! The webhook dispatcher: turns new audit events into signed HTTP deliveries, off every
//! request path.
//!
//! Each tick fans new audit events out into the delivery log
//! (`Store::fan_out_webhooks`), claims due deliveries (`FOR UPDATE SKIP LOCKED` on
//! PostgreSQL, so several instances share the work and send each attempt once), POSTs
//! them concurrently with a timeout, and records each result. A workflow transaction
//! never waits for any of this, so a slow or dead receiver cannot slow or lose a
//! workflow step: its deliveries wait, and go out when it answers again. In `steward
//! serve` ([`run_webhooks`]) a tick does not wait for the sends it started, so a receiver
//! that hangs occupies only its own in-flight slots; [`Dispatcher::run_once`] (tests,
//! tools) waits for them and reports.
//!
//! # What a receiver gets
//!
//! `POST <url>` with `Content-Type: application/json` and
//!
//! - `X-Steward-Event`: the event type, such as `permit.approved`;
//! - `X-Steward-Delivery`: the audit seq, the idempotency id (a retry repeats it);
//! - `X-Steward-Timestamp`: Unix seconds at signing;
//! - `X-Steward-Signature`: `sha256=` and the lower-case hex HMAC-SHA256, keyed with the
//!   subscription's secret, of `<timestamp>.<body>`. Receivers should recompute it over
//!   the raw body, compare in constant time, and refuse stale timestamps.
//!
//! The body is the audit event (`seq`, `type`, `ts_ms`, `actor`, `subject`, `level`,
//! `data`, `hash`) or, for `format: slack`, a Slack-compatible `{"text", "blocks"}`.
//!
//! A subscription listing `audit.checkpoint` is a checkpoint witness (issue 9, item 6): each
//! signed checkpoint reaches it as `X-Steward-Event: audit.checkpoint` with the checkpoint
//! itself as the body, `{"tree_size", "root_hash", "ts_ms", "key_id", "signature"}`,
//! exactly as `GET /v1/audit/checkpoints/latest` returns it, ready to be kept and given to
//! `steward audit verify --checkpoint`. (`*` and `audit.*` still get the
//! `audit.checkpoint_created` event, whose `data` holds the same checkpoint.)
//!
//! # Retries
//!
//! A 2xx answer delivers. Anything else (another status, a refused connection, no answer
//! within [`HTTP_TIMEOUT`]) is retried after 30 s, then 1 min, 2 min, … capped at 1 h,
//! ten attempts in all (about 3 h); then the delivery is `failed`, with the last
//! status code or error in the log (`steward_store::webhook::retry_delay_ms`). Backoff
//! times come from the injectable clock.
//!
//! # Destinations
//!
//! A delivery goes only where [`target`] allows (issue 9, item 7): before each attempt the
//! URL's host is judged again, and a name is resolved and every address it resolves to is
//! judged, since a name can point elsewhere than when it was registered. The client's own
//! resolver ([`GuardedResolver`]) judges the addresses it hands to the connector, so the
//! connection goes only to an address that was checked: a name that rebinds between the
//! check and the connect is refused too. Redirects are never followed. A refused delivery
//! is `failed` at once with the reason in the log ([`AttemptResult::Refused`]), never
//! retried.

pub mod target;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;
use steward_store::webhook::{
    AttemptResult, CHECKPOINT_PUBLICATION, ClaimedDelivery, WebhookFormat,
};
use steward_store::{AuditEntry, Store, StoreError};
use tokio::sync::Semaphore;

use crate::clock::Clock;
use crate::routes::audit::checkpoints::CheckpointView;

/// How long one delivery may take, connection included.
pub const HTTP_TIMEOUT: Duration = Duration::from_secs(10);

/// How often the dispatcher loop runs.
pub const TICK: Duration = Duration::from_secs(1);

/// Deliveries claimed (and sent concurrently) per tick.
pub const CLAIM_BATCH: u32 = 32;

/// Deliveries the serve loop has in flight at most, across ticks.
pub const MAX_IN_FLIGHT: usize = 64;

/// What one tick did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DispatchReport {
    /// Deliveries created from new audit events.
    pub fanned_out: u64,
    /// Attempts that got a 2xx.
    pub delivered: u32,
    /// Attempts that failed (to be retried, or given up).
    pub failed: u32,
}

/// Sends webhook deliveries for one store. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Dispatcher {
    store: Store,
    clock: Clock,
    client: reqwest::Client,
    timeout: Duration,
    allow_private: bool,
}

impl Dispatcher {
    /// A dispatcher whose HTTP requests time out after [`HTTP_TIMEOUT`] and that refuses
    /// internal destinations (see [`target`]).
    pub fn new(store: Store, clock: Clock) -> Dispatcher {
        Dispatcher::with_timeout(store, clock, HTTP_TIMEOUT)
    }

    pub fn with_timeout(store: Store, clock: Clock, timeout: Duration) -> Dispatcher {
        Dispatcher {
            client: client(timeout, false),
            store,
            clock,
            timeout,
            allow_private: false,
        }
    }

    /// The same dispatcher, sending to private destinations too when `allow` is set
    /// (`steward serve --webhook-allow-private`); cloud metadata services stay refused.
    pub fn allowing_private(self, allow: bool) -> Dispatcher {
        Dispatcher {
            client: client(self.timeout, allow),
            allow_private: allow,
            ..self
        }
    }

    /// One tick: fan out, claim, send, record.
    pub async fn run_once(&self) -> Result<DispatchReport, StoreError> {
        let mut report = DispatchReport {
            fanned_out: self
                .store
                .fan_out_webhooks(self.clock.now().millis())
                .await?,
            ..DispatchReport::default()
        };
        let claims = self
            .store
            .claim_webhook_deliveries(self.clock.now().millis(), CLAIM_BATCH)
            .await?;
        let mut sends = Vec::with_capacity(claims.len());
        for claim in claims {
            let this = self.clone();
            sends.push(tokio::spawn(async move { this.deliver(claim).await }));
        }
        for send in sends {
            match send.await {
                Ok(Ok(AttemptResult::Delivered { .. })) => report.delivered += 1,
                Ok(Ok(AttemptResult::Failed { .. } | AttemptResult::Refused { .. })) => {
                    report.failed += 1;
                }
                Ok(Err(error)) => return Err(error),
                Err(_) => {}
            }
        }
        Ok(report)
    }

    /// One tick of the serve loop: fans out, then claims as many due deliveries as there
    /// are free slots in `slots` and starts sending them without waiting, so a receiver
    /// that hangs holds only its own slots while the others keep going. A claim's lease
    /// keeps it from being claimed again while it is in flight.
    async fn start_due(&self, slots: &Arc<Semaphore>) -> Result<(), StoreError> {
        self.store
            .fan_out_webhooks(self.clock.now().millis())
            .await?;
        let free = u32::try_from(slots.available_permits())
            .unwrap_or(CLAIM_BATCH)
            .min(CLAIM_BATCH);
        if free == 0 {
            return Ok(());
        }
        let claims = self
            .store
            .claim_webhook_deliveries(self.clock.now().millis(), free)
            .await?;
        for claim in claims {
            let Ok(slot) = Arc::clone(slots).acquire_owned().await else {
                break;
            };
            let this = self.clone();
            tokio::spawn(async move {
                let _slot = slot;
                if let Err(error) = this.deliver(claim).await {
                    tracing::warn!(%error, "recording a webhook delivery failed; it will be retried");
                }
            });
        }
        Ok(())
    }

    /// Sends one claimed delivery and records the result.
    async fn deliver(&self, claim: ClaimedDelivery) -> Result<AttemptResult, StoreError> {
        let result = self.attempt(&claim).await;
        if let AttemptResult::Refused { error } = &result {
            tracing::warn!(
                webhook_id = %claim.webhook_id,
                seq = claim.seq,
                %error,
                "webhook delivery refused: the destination is internal"
            );
        }
        if let AttemptResult::Failed { status_code, error } = &result {
            tracing::warn!(
                webhook_id = %claim.webhook_id,
                seq = claim.seq,
                attempt = claim.attempt,
                status_code = ?status_code,
                %error,
                "webhook delivery failed"
            );
        }
        self.store
            .finish_webhook_delivery(&claim, &result, self.clock.now().millis())
            .await?;
        Ok(result)
    }

    /// Sends one claimed delivery, if its destination is allowed.
    async fn attempt(&self, claim: &ClaimedDelivery) -> AttemptResult {
        if let Err(refusal) = self.check_destination(&claim.url).await {
            return AttemptResult::Refused {
                error: format!("destination refused: {refusal}"),
            };
        }
        let seq = u64::try_from(claim.seq).unwrap_or(0);
        let entry = match self.store.events(seq, 1).await {
            Ok(entries) => entries.into_iter().next().filter(|e| e.seq == seq),
            Err(error) => {
                return AttemptResult::Failed {
                    status_code: None,
                    error: format!("reading the audit event failed: {error}"),
                };
            }
        };
        let Some(entry) = entry else {
            return AttemptResult::Failed {
                status_code: None,
                error: format!("audit event {seq} is no longer in the trail"),
            };
        };
        let body = match claim.format {
            WebhookFormat::Json if claim.event_type == CHECKPOINT_PUBLICATION => {
                match self.published_checkpoint(&entry).await {
                    Ok(view) => view,
                    Err(error) => {
                        return AttemptResult::Failed {
                            status_code: None,
                            error,
                        };
                    }
                }
            }
            WebhookFormat::Json => json_payload(&entry),
            WebhookFormat::Slack => slack_payload(&entry),
        }
        .to_string();
        let timestamp = (self.clock.now().millis() / 1000).to_string();
        let signature = sign(&claim.secret, &timestamp, body.as_bytes());
        let sent = self
            .client
            .post(&claim.url)
            .header("content-type", "application/json")
            .header("x-steward-event", &claim.event_type)
            .header("x-steward-delivery", claim.seq.to_string())
            .header("x-steward-timestamp", &timestamp)
            .header("x-steward-signature", format!("sha256={signature}"))
            .body(body)
            .send()
            .await;
        match sent {
            Ok(response) if response.status().is_success() => AttemptResult::Delivered {
                status_code: response.status().as_u16(),
            },
            Ok(response) => AttemptResult::Failed {
                status_code: Some(response.status().as_u16()),
                error: format!("the receiver answered {}", response.status()),
            },
            // The name resolved elsewhere between the check and the connect (rebinding):
            // the resolver refused the new addresses.
            Err(error) if refusal_in(&error).is_some() => AttemptResult::Refused {
                error: format!(
                    "destination refused: {}",
                    refusal_in(&error)
                        .map(ToString::to_string)
                        .unwrap_or_default()
                ),
            },
            // Without the URL: its path may be a credential (Slack's are).
            Err(error) => AttemptResult::Failed {
                status_code: None,
                error: error.without_url().to_string(),
            },
        }
    }

    /// The checkpoint an `audit.checkpoint_created` event records, in its published form
    /// (`GET /v1/audit/checkpoints/latest`'s): from the event's data, which holds the
    /// whole signed checkpoint, or, for an event recorded before it did, from the store.
    async fn published_checkpoint(&self, entry: &AuditEntry) -> Result<Value, String> {
        let data = &entry.data;
        let fields = ["tree_size", "root_hash", "ts_ms", "key_id", "signature"];
        if fields.iter().all(|field| data.get(field).is_some()) {
            let view: serde_json::Map<String, Value> = fields
                .iter()
                .map(|field| ((*field).to_owned(), data[*field].clone()))
                .collect();
            return Ok(Value::Object(view));
        }
        let tree_size = data["tree_size"]
            .as_u64()
            .ok_or_else(|| format!("audit event {} records no checkpoint", entry.seq))?;
        let signed =
            self.store.checkpoint(tree_size).await.map_err(|error| {
                format!("reading the checkpoint of tree size {tree_size}: {error}")
            })?;
        serde_json::to_value(CheckpointView::from(&signed)).map_err(|error| error.to_string())
    }

    /// Judges a delivery's destination now: the URL's host, and every address a name
    /// resolves to. A name that does not resolve is not refused here: the send then fails
    /// and is retried like any unreachable receiver.
    async fn check_destination(&self, url: &str) -> Result<(), String> {
        let destination = match target::check_url(url, self.allow_private) {
            Ok(destination) => destination,
            Err(target::UrlError::Refused(refusal)) => return Err(refusal.to_string()),
            Err(target::UrlError::Invalid(why)) => return Err(format!("the URL {why}")),
        };
        if let target::DestinationHost::Name(name) = &destination.host
            && let Ok(addrs) = tokio::net::lookup_host((name.as_str(), destination.port)).await
        {
            for addr in addrs {
                target::check_ip(addr.ip(), self.allow_private)
                    .map_err(|refusal| format!("`{name}` resolves to {refusal}"))?;
            }
        }
        Ok(())
    }
}

/// The dispatcher's HTTP client: no redirects, and names resolved by [`GuardedResolver`].
fn client(timeout: Duration, allow_private: bool) -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(timeout)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent("steward-webhooks")
        .dns_resolver(Arc::new(GuardedResolver { allow_private }))
        .build()
        .unwrap_or_default()
}

/// The resolver of the dispatcher's client: resolves with the system resolver and fails
/// unless every address is an allowed destination ([`target::check_ip`]). The connector
/// connects only to the addresses returned here, so what was checked is what is reached.
#[derive(Debug, Clone, Copy)]
pub struct GuardedResolver {
    pub allow_private: bool,
}

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let allow_private = self.allow_private;
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let resolved: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            target::check_name(&host, allow_private)?;
            for addr in &resolved {
                target::check_ip(addr.ip(), allow_private)?;
            }
            let addrs: reqwest::dns::Addrs = Box::new(resolved.into_iter());
            Ok(addrs)
        })
    }
}

/// The destination refusal somewhere in `error`'s chain of causes, if any.
fn refusal_in(error: &reqwest::Error) -> Option<&target::Refusal> {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(current) = cause {
        if let Some(refusal) = current.downcast_ref::<target::Refusal>() {
            return Some(refusal);
        }
        cause = current.source();
    }
    None
}

/// The dispatcher loop of `steward serve`: every [`TICK`] until dropped, fan out and
/// start the due deliveries, at most [`MAX_IN_FLIGHT`] at once, without waiting for
/// slow receivers. Safe on several instances over one PostgreSQL database. Private
/// destinations are sent to only with `allow_private` (see [`target`]).
pub async fn run_webhooks(store: Store, clock: Clock, allow_private: bool) {
    let dispatcher = Dispatcher::new(store, clock).allowing_private(allow_private);
    let slots = Arc::new(Semaphore::new(MAX_IN_FLIGHT));
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if let Err(error) = dispatcher.start_due(&slots).await {
            tracing::warn!(%error, "dispatching webhooks failed; retrying");
        }
    }
}

/// The lower-case hex HMAC-SHA256 of `<timestamp>.<body>` keyed with `secret`: the value
/// of `X-Steward-Signature` after `sha256=`.
pub fn sign(secret: &str, timestamp: &str, body: &[u8]) -> String {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret.as_bytes())
        .expect("HMAC accepts keys of any length");
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

/// The `json` format: the audit event as the trail holds it.
pub fn json_payload(entry: &AuditEntry) -> Value {
    json!({
        "seq": entry.seq,
        "type": entry.event_type,
        "ts_ms": entry.ts_ms,
        "actor": {"kind": entry.actor.kind.as_str(), "id": entry.actor.id, "roles": entry.actor.roles},
        "subject": {
            "task_id": entry.subject.task_id,
            "worker_id": entry.subject.worker_id,
            "permit_id": entry.subject.permit_id,
        },
        "level": entry.level,
        "data": entry.data,
        "hash": entry.hash.to_string(),
    })
}

/// The `slack` format: a one-line summary (type, permit, worker, level, actor) as
/// `text`, repeated as a section block with a context block naming seq and time.
pub fn slack_payload(entry: &AuditEntry) -> Value {
    let mut about = Vec::new();
    if let Some(permit) = &entry.subject.permit_id {
        about.push(format!("permit `{permit}`"));
    }
    if let Some(worker) = &entry.subject.worker_id {
        about.push(format!("worker `{worker}`"));
    }
    if let Some(task) = &entry.subject.task_id {
        about.push(format!("task `{task}`"));
    }
    if let Some(level) = entry.level {
        about.push(format!("level {level}"));
    }
    let actor = format!("{} `{}`", entry.actor.kind.as_str(), entry.actor.id);
    let text = if about.is_empty() {
        format!("Steward: *{}* by {actor}", entry.event_type)
    } else {
        format!(
            "Steward: *{}*: {} by {actor}",
            entry.event_type,
            about.join(", ")
        )
    };
    json!({
        "text": text,
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": text}},
            {"type": "context", "elements": [
                {"type": "mrkdwn", "text": format!("audit seq {} · ts_ms {}", entry.seq, entry.ts_ms)}
            ]}
        ]
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_is_hmac_sha256_of_timestamp_dot_body() {
        // Computed independently: Python's hmac.new(key, b"1800000000.{\"seq\":7}",
        // hashlib.sha256).hexdigest().
        assert_eq!(
            sign("whsec-test-0123456789", "1800000000", br#"{"seq":7}"#),
            "5f7509dd2064bf7c621a100eb0e606c3f90abc5cb80b7702284e07476054959e"
        );
    }
}
