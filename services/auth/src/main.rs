//! The `gewebe-auth` binary: `serve` (default), `migrate`, `keys rotate`, `audit verify|anchor|
//! anchor-key`, `accounts forget|announce-privacy` and `roles set` (for the first admin).

use clap::Subcommand;
use gewebe_auth::Config;
use gewebe_platform::{
    db::Db,
    main_loop::{self, Binary, CommandResult},
};

const BINARY: Binary = Binary {
    name: "gewebe-auth",
    about: "gewebe's account and token service",
    version: env!("CARGO_PKG_VERSION"),
};

#[derive(Subcommand)]
enum Command {
    /// Serve HTTP (the default).
    Serve,
    /// Apply database migrations (direct connection: `DATABASE_DIRECT_URL`).
    Migrate,
    /// Manage the token signing keys.
    Keys {
        #[command(subcommand)]
        action: KeysAction,
    },
    /// The hash-chained audit log.
    Audit {
        #[command(subcommand)]
        action: AuditAction,
    },
    /// Accounts: forget one on an operator's behalf (runbooks/forget.md).
    Accounts {
        #[command(subcommand)]
        action: AccountsAction,
    },
    /// Account roles, for bootstrapping the first admin (afterwards admins use the API).
    Roles {
        #[command(subcommand)]
        action: RolesAction,
    },
}

#[derive(Subcommand)]
enum AuditAction {
    /// Recompute the chain in one snapshot; exit 1 and name the first broken link if a row was
    /// altered or removed, or if the chain no longer holds the newest anchor's entry.
    Verify {
        /// Anchor file to check against (default `AUTH_AUDIT_ANCHOR_PATH`).
        #[arg(long)]
        anchor: Option<std::path::PathBuf>,
    },
    /// Append a signed anchor of the current head to the anchor file now.
    Anchor {
        /// Default `AUTH_AUDIT_ANCHOR_PATH`.
        #[arg(long)]
        anchor: Option<std::path::PathBuf>,
    },
    /// Print the public key that verifies anchors (base64url), for auditors.
    AnchorKey,
}

#[derive(Subcommand)]
enum AccountsAction {
    /// Forget an account (DSGVO) after a request that arrived outside the app; `--operator` is the
    /// account id of the operator doing it, recorded in the audit log.
    Forget {
        account_id: uuid::Uuid,
        #[arg(long)]
        operator: uuid::Uuid,
    },
    /// Announce every account's current privacy settings again (`account.updated`), so services
    /// that hold older ones catch up: after a dead-lettered event, or once after upgrading to the
    /// build whose geo waits for the settings (runbooks/geo.md).
    AnnouncePrivacy,
}

#[derive(Subcommand)]
enum RolesAction {
    /// Replace an account's roles, e.g. `roles set <account-id> admin` (`user` is always kept).
    Set {
        account_id: uuid::Uuid,
        roles: Vec<String>,
    },
}

#[derive(Subcommand)]
enum KeysAction {
    /// Make a new signing key current; the previous one stays in the JWKS for the overlap.
    Rotate,
}

fn main() -> std::process::ExitCode {
    main_loop::main(&BINARY, |command, config: Config| async move {
        match command.unwrap_or(Command::Serve) {
            Command::Serve => main_loop::serve(config, gewebe_auth::build).await,
            Command::Migrate => main_loop::migrate(&db(&config)?, &gewebe_auth::migrators()?).await,
            Command::Keys {
                action: KeysAction::Rotate,
            } => rotate(&config).await,
            Command::Audit {
                action: AuditAction::Verify { anchor },
            } => verify(&config, anchor).await,
            Command::Audit {
                action: AuditAction::Anchor { anchor },
            } => anchor_now(&config, anchor).await,
            Command::Audit {
                action: AuditAction::AnchorKey,
            } => {
                use base64::Engine as _;
                let key = gewebe_auth::audit::anchor::key(&config.keys.kek).verifying_key();
                let key = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(key.as_bytes());
                tracing::info!(public_key = %key, "audit anchor key (Ed25519)");
                Ok(())
            }
            Command::Accounts {
                action:
                    AccountsAction::Forget {
                        account_id,
                        operator,
                    },
            } => forget(&config, account_id, operator).await,
            Command::Accounts {
                action: AccountsAction::AnnouncePrivacy,
            } => announce_privacy(&config).await,
            Command::Roles {
                action: RolesAction::Set { account_id, roles },
            } => set_roles(&config, account_id, &roles).await,
        }
    })
}

/// A direct-or-pooled handle for one operator command.
fn db(config: &Config) -> Result<Db, sqlx::Error> {
    Db::connect_lazy(&config.db, gewebe_auth::config::SERVICE)
}

async fn rotate(config: &Config) -> CommandResult {
    let db = db(config)?;
    let kid = gewebe_auth::key_store(&db, config).rotate().await?;
    tracing::info!(%kid, "new signing key is current");
    Ok(())
}

async fn verify(config: &Config, anchor: Option<std::path::PathBuf>) -> CommandResult {
    use gewebe_auth::audit::anchor;
    let db = db(config)?;
    let path = anchor.or_else(|| config.audit.anchor_path.clone());
    let anchored = match &path {
        Some(path) => anchor::latest(path, &anchor::key(&config.keys.kek).verifying_key())
            .map_err(|e| format!("audit anchor {}: {e}", path.display()))?,
        None => None,
    };
    if let (Some(path), None) = (&path, &anchored) {
        // A missing or emptied anchor file must not quietly turn the tail check off: that is what
        // someone who cut the tail would do next. A new deployment anchors first (`audit anchor`).
        return Err(format!(
            "audit anchor {}: no anchor to verify against; if this deployment is new, run `gewebe-auth audit anchor` first",
            path.display()
        )
        .into());
    }
    // Like `Db::begin` (the `DEALLOCATE ALL` is for PgBouncer), but a snapshot from the start:
    // `BEGIN; DEALLOCATE ALL` already counts as a query for `SET TRANSACTION`.
    let mut tx = db
        .pool()
        .begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY; DEALLOCATE ALL")
        .await?;
    let v = gewebe_auth::audit::verify(&mut tx, anchored.as_ref()).await?;
    tx.commit().await?;
    match v.broken {
        None => {
            tracing::info!(entries = v.entries, head = %v.head, anchored_seq = anchored.map(|a| a.seq), "audit log intact");
            Ok(())
        }
        Some((seq, why)) => {
            tracing::error!(seq, reason = %why, head = %v.head, "audit log broken");
            Err(format!("audit log broken at entry {seq}: {why}").into())
        }
    }
}

async fn anchor_now(config: &Config, anchor: Option<std::path::PathBuf>) -> CommandResult {
    use gewebe_auth::audit::anchor;
    let path = anchor
        .or_else(|| config.audit.anchor_path.clone())
        .ok_or("no anchor file: pass --anchor or set AUTH_AUDIT_ANCHOR_PATH")?;
    let db = db(config)?;
    let mut tx = db.begin().await?;
    let head = anchor::head(&mut tx).await?;
    tx.commit().await?;
    anchor::append(&path, &anchor::key(&config.keys.kek), &head)?;
    tracing::info!(seq = head.seq, path = %path.display(), "audit head anchored");
    Ok(())
}

async fn set_roles(config: &Config, account_id: uuid::Uuid, roles: &[String]) -> CommandResult {
    let db = db(config)?;
    let roles = gewebe_auth::admin::normalise_roles(roles)
        .map_err(|_| format!("unknown role in {roles:?}; roles are user, moderator, admin"))?;
    let mut tx = db.begin().await?;
    let changed = gewebe_auth::admin::change_roles(&mut tx, account_id, &roles, None).await?;
    tx.commit().await?;
    tracing::info!(%account_id, roles = ?changed, "roles set");
    Ok(())
}

async fn announce_privacy(config: &Config) -> CommandResult {
    let db = db(config)?;
    let outbox = gewebe_events::outbox::Outbox::new(gewebe_auth::SCHEMA, db.pool().clone())?;
    let announced = gewebe_auth::accounts::announce_privacy(&db, &outbox).await?;
    tracing::info!(announced, "privacy settings announced");
    Ok(())
}

async fn forget(config: &Config, account_id: uuid::Uuid, operator: uuid::Uuid) -> CommandResult {
    let db = db(config)?;
    let outbox = gewebe_events::outbox::Outbox::new(gewebe_auth::SCHEMA, db.pool().clone())?;
    let mut tx = db.begin().await?;
    gewebe_auth::accounts::forget_account(&mut tx, &outbox, account_id, operator)
        .await
        .map_err(|e| format!("{account_id}: {e}"))?;
    // The process ends right after: the relay may only see the event at its next poll.
    outbox.commit(tx).await?;
    tracing::info!(%account_id, %operator, "account forgotten");
    Ok(())
}
