//! steward-policy's integration tests, in one binary (STYLE rule 20).

// The benchmark's corpus and Rego peer, shared so the test checks exactly what the
// benchmark measures.
#[path = "../../benches/corpus.rs"]
mod corpus;
#[path = "../../benches/rego_peer.rs"]
mod rego_peer;

mod rego_agreement;
