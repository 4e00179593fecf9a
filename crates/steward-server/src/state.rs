//! `AppState`: what every handler can reach. Cheap to clone (handles and `Arc`s).

use std::sync::Arc;

use steward_policy::Policy;
use steward_store::Store;

use crate::clock::Clock;

#[derive(Debug, Clone)]
pub struct AppState {
    pub store: Store,
    pub policy: Arc<Policy>,
    pub clock: Clock,
}
