//! Rate limits (issue 9, item 9): failed authentication per client address, token
//! creation per token, and (off by default) authorize per token. Each is a keyed GCRA
//! limiter from `governor` (a sharded hash map of one atomic cell per key), so a check is
//! a hash lookup and a compare-and-swap; a limit that is off costs one branch.
//!
//! # Failed authentication
//!
//! Every request whose `Authorization` header is malformed or names an unknown, expired or
//! revoked token counts one failure against the peer's IP address (a request without the
//! header counts none). Once an address has spent its allowance, that failure and every
//! request from the address after it — a correct token included — is answered 429 with
//! `Retry-After`, before any token is looked up, until the allowance has a cell again
//! (one per `60 / N` seconds for N a minute). Correct tokens do not count, so a fleet
//! behind one address that authenticates properly is never throttled by this limit. The
//! address is the TCP peer: behind a reverse proxy every client shares the proxy's
//! address, so size the limit for that or terminate the proxy per client.
//!
//! # Token creation and authorize
//!
//! Keyed by the caller's token id (not the principal: a principal's tokens are separate
//! credentials), checked after authentication and roles, before the request is parsed.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use dashmap::DashMap;
use governor::clock::{Clock as _, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::error::ApiError;

/// How many of each may happen, per key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimitConfig {
    /// Failed authentications per client address per minute (burst the same); 0: off.
    pub auth_failures_per_minute: u32,
    /// Tokens created with one token per minute (burst the same); 0: off.
    pub token_creations_per_minute: u32,
    /// Authorize calls with one token per second (burst the same); 0: off, the default.
    pub authorize_per_second: u32,
}

/// The default of `--auth-failures-per-minute`.
pub const DEFAULT_AUTH_FAILURES_PER_MINUTE: u32 = 30;
/// The default of `--token-creations-per-minute`.
pub const DEFAULT_TOKEN_CREATIONS_PER_MINUTE: u32 = 20;
/// The default of `--authorize-per-second`: off.
pub const DEFAULT_AUTHORIZE_PER_SECOND: u32 = 0;

impl Default for RateLimitConfig {
    fn default() -> RateLimitConfig {
        RateLimitConfig {
            auth_failures_per_minute: DEFAULT_AUTH_FAILURES_PER_MINUTE,
            token_creations_per_minute: DEFAULT_TOKEN_CREATIONS_PER_MINUTE,
            authorize_per_second: DEFAULT_AUTHORIZE_PER_SECOND,
        }
    }
}

/// Which limit refused a request: the problem's `limit` member.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    AuthFailures,
    TokenCreation,
    Authorize,
}

impl Limit {
    pub fn as_str(self) -> &'static str {
        match self {
            Limit::AuthFailures => "auth_failures",
            Limit::TokenCreation => "token_creation",
            Limit::Authorize => "authorize",
        }
    }
}

/// The limiters of one instance. Cheap to clone; every clone shares the counts.
#[derive(Debug, Clone, Default)]
pub struct RateLimits(Arc<Inner>);

#[derive(Debug, Default)]
struct Inner {
    config: RateLimitConfig,
    auth_failures: Option<DefaultKeyedRateLimiter<IpAddr>>,
    /// Addresses whose failures ran out, and until when they are answered 429.
    blocked: DashMap<IpAddr, Instant>,
    /// `blocked.len()`, kept so the common case (nobody blocked) reads one atomic.
    blocked_len: AtomicUsize,
    token_creations: Option<DefaultKeyedRateLimiter<String>>,
    authorize: Option<DefaultKeyedRateLimiter<String>>,
}

fn limiter<K>(count: u32, per: Duration) -> Option<DefaultKeyedRateLimiter<K>>
where
    K: std::hash::Hash + Eq + Clone,
{
    let count = NonZeroU32::new(count)?;
    let quota = Quota::with_period(per / count.get())?.allow_burst(count);
    Some(RateLimiter::keyed(quota))
}

impl RateLimits {
    pub fn new(config: RateLimitConfig) -> RateLimits {
        RateLimits(Arc::new(Inner {
            config,
            auth_failures: limiter(config.auth_failures_per_minute, Duration::from_secs(60)),
            blocked: DashMap::new(),
            blocked_len: AtomicUsize::new(0),
            token_creations: limiter(config.token_creations_per_minute, Duration::from_secs(60)),
            authorize: limiter(config.authorize_per_second, Duration::from_secs(1)),
        }))
    }

    pub fn config(&self) -> RateLimitConfig {
        self.0.config
    }

    /// 429 when `ip` spent its failed authentications and must wait.
    pub fn check_address(&self, ip: IpAddr) -> Result<(), ApiError> {
        if self.0.blocked_len.load(Ordering::Relaxed) == 0 {
            return Ok(());
        }
        let Some(until) = self.0.blocked.get(&ip).map(|until| *until) else {
            return Ok(());
        };
        let now = Instant::now();
        if until > now {
            return Err(self.refusal(Limit::AuthFailures, until - now));
        }
        if self
            .0
            .blocked
            .remove_if(&ip, |_, until| *until <= now)
            .is_some()
        {
            self.0.blocked_len.fetch_sub(1, Ordering::Relaxed);
        }
        Ok(())
    }

    /// Counts a failed authentication from `ip`: `failure` (the 401) while the address
    /// has allowance left, a 429 once it has not.
    pub fn auth_failed(&self, ip: IpAddr, failure: ApiError) -> ApiError {
        let Some(limiter) = &self.0.auth_failures else {
            return failure;
        };
        match limiter.check_key(&ip) {
            Ok(()) => failure,
            Err(not_until) => {
                let wait = not_until.wait_time_from(limiter.clock().now());
                if self.0.blocked.insert(ip, Instant::now() + wait).is_none() {
                    self.0.blocked_len.fetch_add(1, Ordering::Relaxed);
                }
                self.refusal(Limit::AuthFailures, wait)
            }
        }
    }

    /// Counts a token created with `token_id`: 429 past the limit.
    pub fn check_token_creation(&self, token_id: &str) -> Result<(), ApiError> {
        self.check(Limit::TokenCreation, &self.0.token_creations, token_id)
    }

    /// Counts an authorize call with `token_id`: 429 past the limit (off by default).
    pub fn check_authorize(&self, token_id: &str) -> Result<(), ApiError> {
        self.check(Limit::Authorize, &self.0.authorize, token_id)
    }

    fn check(
        &self,
        limit: Limit,
        limiter: &Option<DefaultKeyedRateLimiter<String>>,
        token_id: &str,
    ) -> Result<(), ApiError> {
        let Some(limiter) = limiter else {
            return Ok(());
        };
        limiter
            .check_key(&token_id.to_owned())
            .map_err(|not_until| {
                self.refusal(
                    limit,
                    not_until.wait_time_from(DefaultClock::default().now()),
                )
            })
    }

    fn refusal(&self, limit: Limit, wait: Duration) -> ApiError {
        let config = self.0.config;
        let what = match limit {
            Limit::AuthFailures => format!(
                "too many failed authentications from this address (limit {} a minute)",
                config.auth_failures_per_minute
            ),
            Limit::TokenCreation => format!(
                "too many tokens created with this token (limit {} a minute)",
                config.token_creations_per_minute
            ),
            Limit::Authorize => format!(
                "too many authorize calls with this token (limit {} a second)",
                config.authorize_per_second
            ),
        };
        let retry_after_s = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
        ApiError::TooManyRequests {
            message: format!("{what}; retry in {} s", retry_after_s.max(1)),
            limit: limit.as_str(),
            retry_after_s: retry_after_s.max(1),
        }
    }

    /// Forgets keys whose allowance is full again and addresses no longer blocked, so
    /// the maps hold only recent keys. For the maintenance loop.
    pub fn sweep(&self) {
        let inner = &self.0;
        for limiter in [&inner.token_creations, &inner.authorize]
            .into_iter()
            .flatten()
        {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
        if let Some(limiter) = &inner.auth_failures {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
        let now = Instant::now();
        let before = inner.blocked.len();
        inner.blocked.retain(|_, until| *until > now);
        let removed = before.saturating_sub(inner.blocked.len());
        inner.blocked_len.fetch_sub(removed, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unauthorized() -> ApiError {
        ApiError::Unauthorized("the token is unknown, expired or revoked".into())
    }

    #[test]
    fn failures_are_counted_per_address_and_then_block_the_address() {
        let limits = RateLimits::new(RateLimitConfig {
            auth_failures_per_minute: 3,
            ..RateLimitConfig::default()
        });
        let mallory: IpAddr = "192.0.2.7".parse().expect("ip");
        let alice: IpAddr = "192.0.2.8".parse().expect("ip");
        for _ in 0..3 {
            assert!(limits.check_address(mallory).is_ok());
            assert_eq!(
                limits
                    .auth_failed(mallory, unauthorized())
                    .status()
                    .as_u16(),
                401
            );
        }
        let refused = limits.auth_failed(mallory, unauthorized());
        assert_eq!(refused.status().as_u16(), 429);
        let ApiError::TooManyRequests { retry_after_s, .. } = refused else {
            panic!("not a 429: {refused:?}");
        };
        assert!((1..=20).contains(&retry_after_s), "{retry_after_s}");
        assert!(limits.check_address(mallory).is_err(), "mallory is blocked");
        assert!(limits.check_address(alice).is_ok(), "alice is not");
        limits.sweep();
        assert!(
            limits.check_address(mallory).is_err(),
            "still blocked after a sweep"
        );
    }

    #[test]
    fn a_limit_of_zero_is_off() {
        let limits = RateLimits::new(RateLimitConfig {
            auth_failures_per_minute: 0,
            token_creations_per_minute: 0,
            authorize_per_second: 0,
        });
        let ip: IpAddr = "192.0.2.7".parse().expect("ip");
        for _ in 0..1000 {
            assert_eq!(
                limits.auth_failed(ip, unauthorized()).status().as_u16(),
                401
            );
            assert!(limits.check_token_creation("tok").is_ok());
            assert!(limits.check_authorize("tok").is_ok());
        }
        assert!(limits.check_address(ip).is_ok());
    }

    #[test]
    fn authorize_is_unlimited_by_default_and_tokens_are_limited_per_token() {
        let limits = RateLimits::new(RateLimitConfig::default());
        for _ in 0..10_000 {
            assert!(limits.check_authorize("tok").is_ok());
        }
        for _ in 0..DEFAULT_TOKEN_CREATIONS_PER_MINUTE {
            assert!(limits.check_token_creation("a").is_ok());
        }
        assert!(limits.check_token_creation("a").is_err());
        assert!(limits.check_token_creation("b").is_ok());
    }
}
