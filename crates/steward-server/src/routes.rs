//! The HTTP routes, one module per resource.

pub mod analyze;
pub mod audit;
pub mod authorize;
pub mod emergencies;
pub mod health;
pub mod monitoring;
pub mod metrics;
pub mod permits;
pub mod principals;
pub mod tokens;
pub mod webhooks;
pub mod workers;
