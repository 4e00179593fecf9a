//! Rebuilds the crate when a migration is added, changed or removed: `sqlx::migrate!`
//! embeds every file of `migrations/sqlite` and `migrations/postgres`, but cargo only
//! watches the files a build read, not new ones in the directories.
fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
