//! The HTTP routes, one module per resource.

pub mod analyze;
pub mod audit;
pub mod erasure;
pub mod health;
pub mod permits;
pub mod principals;
pub mod reports;
pub mod tokens;
pub mod workers;
