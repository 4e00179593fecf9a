//! The HTTP routes, one module per resource.

pub mod analyze;
pub mod audit;
pub mod authorize;
pub mod clock;
pub mod emergencies;
pub mod erasure;
pub mod events;
pub mod health;
pub mod hooks;
pub mod metrics;
pub mod monitoring;
pub mod permits;
pub mod principals;
pub mod reports;
pub mod tokens;
pub mod webhooks;
pub mod workers;
