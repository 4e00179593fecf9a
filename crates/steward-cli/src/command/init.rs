//! `steward init`: the data directory, the database, the first admin and its token, and
//! the Ed25519 key that signs audit checkpoints, whose public half is recorded in the
//! database so that every instance on it must hold the same key. `steward serve` runs the
//! same steps on first start.
//!
//! Initialising twice is refused: it would mint a second "first admin" and, worse, replace
//! the signing key that earlier checkpoints were signed with.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use clap::Args;
use rand::RngCore as _;
use steward_policy::Role;
use steward_store::{Caller, KeyClaim, NewPrincipal, NewToken, PrincipalKind, Store, token};

use crate::failure::invalid;
use crate::output::print;

/// The private key file in the data directory: 32 raw bytes, mode 0600.
pub const SIGNING_KEY_FILE: &str = "audit-signing.key";
/// The public key file: `ed25519:` and 64 hex digits, the form `steward audit verify`
/// reads for offline verification.
pub const PUBLIC_KEY_FILE: &str = "audit-signing.pub";

/// Where Steward keeps its state.
#[derive(Debug, Clone, Args)]
pub struct StoreArgs {
    /// Directory for the SQLite database and the audit signing key.
    #[arg(
        long,
        env = "STEWARD_DATA_DIR",
        default_value = "steward-data",
        value_name = "DIR"
    )]
    pub data_dir: PathBuf,
    /// Database URL: `sqlite://PATH` or `postgres://…` [default: sqlite://DIR/steward.db]
    #[arg(long, env = "STEWARD_DATABASE_URL", value_name = "URL")]
    pub database: Option<String>,
}

#[derive(Debug, Args)]
pub struct InitArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    /// Name of the first admin principal.
    #[arg(long, default_value = "admin", value_name = "NAME")]
    pub admin_name: String,
}

/// What initialising made; the secret is printed once and dropped.
#[derive(Debug)]
pub struct Initialised {
    pub admin_name: String,
    pub admin_id: String,
    pub token: String,
    pub key_path: PathBuf,
    pub public_key_path: PathBuf,
    /// The id of the signing key's public half, as recorded in the database.
    pub key_id: String,
}

pub fn run(args: InitArgs) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async {
        let store = open_store(&args.store).await?;
        let result = async {
            if let Some(reason) = already_initialised(&args.store, &store).await? {
                return Err(invalid(format!(
                    "Steward is already initialised in `{}` ({reason}); nothing was changed. \
                     Start it with `steward serve`; an admin can make more tokens with \
                     `steward token create`",
                    args.store.data_dir.display()
                )));
            }
            let done = initialise(&args.store, &store, &args.admin_name).await?;
            print(&report(&args.store, &done))
        }
        .await;
        store.close().await;
        result
    })?;
    Ok(ExitCode::SUCCESS)
}

impl StoreArgs {
    /// The database URL: `--database`, or the SQLite file in the data directory.
    pub fn database_url(&self) -> String {
        match &self.database {
            Some(url) => url.clone(),
            None => format!("sqlite://{}", self.data_dir.join("steward.db").display()),
        }
    }

    pub fn key_path(&self) -> PathBuf {
        self.data_dir.join(SIGNING_KEY_FILE)
    }

    pub fn public_key_path(&self) -> PathBuf {
        self.data_dir.join(PUBLIC_KEY_FILE)
    }
}

/// Creates the data directory (0700) if needed and opens the database, which creates
/// and migrates it.
pub async fn open_store(args: &StoreArgs) -> anyhow::Result<Store> {
    create_private_dir(&args.data_dir)?;
    let url = args.database_url();
    Store::connect(&url)
        .await
        .with_context(|| format!("opening the database `{}`", redact(&url)))
}

/// Why the data directory or database already holds a Steward, or `None` when fresh.
pub async fn already_initialised(
    args: &StoreArgs,
    store: &Store,
) -> anyhow::Result<Option<String>> {
    let key = args.key_path();
    if key.exists() {
        return Ok(Some(format!("`{}` exists", key.display())));
    }
    let principals = store
        .list_principals()
        .await
        .context("reading principals")?;
    if !principals.is_empty() {
        return Ok(Some(format!(
            "the database already has {} principal{}",
            principals.len(),
            if principals.len() == 1 { "" } else { "s" }
        )));
    }
    Ok(None)
}

/// Writes the signing key pair, creates the first admin and its token, and records the
/// public key in the database. If the database refuses, the key files just written are
/// removed again so that a retry starts clean.
pub async fn initialise(
    args: &StoreArgs,
    store: &Store,
    admin_name: &str,
) -> anyhow::Result<Initialised> {
    let name = admin_name.trim();
    if name.is_empty() {
        return Err(invalid("`--admin-name` must not be empty"));
    }
    let key_path = args.key_path();
    let public_key_path = args.public_key_path();
    let public = write_signing_key(&key_path, &public_key_path)?;
    let created = async {
        let (admin_id, token) = create_admin(store, name).await?;
        record_key(store, &public).await?;
        Ok::<_, anyhow::Error>((admin_id, token))
    }
    .await;
    match created {
        Ok((admin_id, token)) => Ok(Initialised {
            admin_name: name.to_owned(),
            admin_id,
            token,
            key_path,
            public_key_path,
            key_id: steward_audit::key_id(&public),
        }),
        Err(error) => {
            let _ = std::fs::remove_file(&key_path);
            let _ = std::fs::remove_file(&public_key_path);
            Err(error)
        }
    }
}

/// Records the new key's public half as the one the trail is signed with.
async fn record_key(store: &Store, public: &[u8; 32]) -> anyhow::Result<()> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
    match store
        .claim_signing_key(&init_actor(), public, now)
        .await
        .context("recording the audit signing key")?
    {
        KeyClaim::Recorded | KeyClaim::Matches => Ok(()),
        KeyClaim::Differs { key_id } => Err(invalid(format!(
            "the database's audit trail is already signed with key {key_id}; nothing was \
             initialised"
        ))),
    }
}

fn init_actor() -> Caller {
    Caller::system("steward-init")
}

/// The text `init` (and a first `serve`) prints: where things are and the token, once.
pub fn report(args: &StoreArgs, done: &Initialised) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "Initialised Steward in `{}`:", args.data_dir.display());
    let _ = writeln!(s, "  database       {}", redact(&args.database_url()));
    let _ = writeln!(
        s,
        "  admin          `{}` (id {})",
        done.admin_name, done.admin_id
    );
    let _ = writeln!(
        s,
        "  audit signing  {} (private, mode 0600), public key in {}",
        done.key_path.display(),
        done.public_key_path.display()
    );
    let _ = writeln!(
        s,
        "                 key id {}, recorded in the database: every instance on it must hold \
         this key (copy the file into its data directory, or `steward serve --audit-key FILE`); \
         keep it with the database's backups",
        done.key_id
    );
    let _ = writeln!(
        s,
        "\nThe admin token is shown only this once; store it now (a password manager, not \
         a shell history file):\n\n    export STEWARD_TOKEN={}\n",
        done.token
    );
    s
}

/// The URL with any password replaced by `***`, for messages and logs.
pub fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let (authority, path) = rest.split_at(authority_end);
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _password)) => format!("{scheme}://{user}:***@{host}{path}"),
            None => url.to_owned(),
        },
        None => url.to_owned(),
    }
}

async fn create_admin(store: &Store, name: &str) -> anyhow::Result<(String, String)> {
    let by = init_actor();
    let admin = store
        .create_principal(
            &by,
            NewPrincipal {
                kind: PrincipalKind::Human,
                name: name.to_owned(),
                roles: vec![Role::Admin],
            },
        )
        .await
        .context("creating the admin principal")?;
    let (secret, secret_hash) = token::generate();
    store
        .create_token(
            &by,
            NewToken {
                principal_id: admin.id.clone(),
                label: "first admin token (steward init)".to_owned(),
                expires_at_ms: None,
                secret_hash,
            },
        )
        .await
        .context("creating the admin token")?;
    Ok((admin.id, secret))
}

/// 32 random bytes from the operating system's CSPRNG (through `rand`) become the private
/// key, written with mode 0600 by a create that fails if the file exists, so a key is
/// never overwritten. The key is never printed; its public half is returned.
fn write_signing_key(key_path: &Path, public_key_path: &Path) -> anyhow::Result<[u8; 32]> {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let public = ed25519_dalek::SigningKey::from_bytes(&bytes)
        .verifying_key()
        .to_bytes();
    write_new(key_path, &bytes, 0o600)?;
    let mut text = String::from("ed25519:");
    for byte in public {
        let _ = write!(text, "{byte:02x}");
    }
    text.push('\n');
    if let Err(error) = write_new(public_key_path, text.as_bytes(), 0o644) {
        let _ = std::fs::remove_file(key_path);
        return Err(error);
    }
    Ok(public)
}

fn write_new(path: &Path, contents: &[u8], mode: u32) -> anyhow::Result<()> {
    use std::io::Write as _;

    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(mode);
    }
    #[cfg(not(unix))]
    let _ = mode;
    let mut file = options.open(path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::AlreadyExists {
            invalid(format!(
                "`{}` already exists; not overwriting it",
                path.display()
            ))
        } else {
            anyhow::Error::new(e).context(format!("creating `{}`", path.display()))
        }
    })?;
    file.write_all(contents)
        .and_then(|()| file.sync_all())
        .with_context(|| format!("writing `{}`", path.display()))
}

fn create_private_dir(dir: &Path) -> anyhow::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt as _;
        builder.mode(0o700);
    }
    builder
        .create(dir)
        .with_context(|| format!("creating the data directory `{}`", dir.display()))
}

#[cfg(test)]
mod tests;
