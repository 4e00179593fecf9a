//! The dashboard end to end: a real Steward server (the JSON API and the pages on one
//! router) on a loopback port over SQLite and PostgreSQL, driven by a real headless
//! Chromium over WebDriver (fantoccini + chromedriver), plus raw HTTP checks of the
//! security properties a browser hides (cookie flags, CSRF refusals).

mod browser;
mod dashboard;
mod oversight;
mod rehearsal;
mod security;
mod stepup;
mod support;
