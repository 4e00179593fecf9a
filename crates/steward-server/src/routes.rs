//! The HTTP routes, one module per resource.

pub mod analyze;
pub mod health;
pub mod permits;
