//! `tollgate user create|list|disable|enable|set-password|sign-out-everywhere`, and the
//! bootstrap admin of `serve`.

use crate::audit::actors;
use crate::auth::accounts::AccountAction;
use crate::auth::model::{check_new_password, parse_username, Role};
use crate::db::Db;
use crate::tenants::store as tenants;
use crate::tenants::TenantId;
use anyhow::{bail, Context};
use clap::Subcommand;

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create a console user: a system admin (`--admin`) or the admin of one tenant
    /// (`--tenant <id>`). The password is read from stdin with `--password-stdin`, else
    /// generated and printed once.
    Create {
        username: String,
        #[arg(long, conflicts_with = "tenant", required_unless_present = "tenant")]
        admin: bool,
        #[arg(long)]
        tenant: Option<String>,
        #[arg(long)]
        password_stdin: bool,
    },
    /// List console users.
    List,
    /// Stop a user's sign-ins, sessions and API tokens at once (until `enable`).
    Disable { username: String },
    /// Let a disabled user sign in again.
    Enable { username: String },
    /// Give a user a new password (read from stdin with `--password-stdin`, else generated and
    /// printed once); every session of theirs ends.
    SetPassword {
        username: String,
        #[arg(long)]
        password_stdin: bool,
    },
    /// End every session of a user and revoke every API token of theirs.
    SignOutEverywhere { username: String },
}

pub async fn run(db: &Db, cmd: UserCommand, now: i64) -> anyhow::Result<()> {
    match cmd {
        UserCommand::Create { username, admin, tenant, password_stdin } => {
            let username = parse_username(&username)?;
            let role = match (admin, tenant) {
                (true, _) => Role::SystemAdmin,
                (false, Some(t)) => {
                    let id = TenantId::parse(&t)?;
                    if tenants::get(&db.pool, &id).await?.is_none() {
                        bail!("no tenant with id {id}");
                    }
                    Role::TenantAdmin { tenant_id: id.to_string() }
                }
                (false, None) => bail!("give --admin or --tenant <id>"),
            };
            let (password, generated) = new_password(password_stdin)?;
            if !create(db, &username, &password, &role, actors::CLI, now).await? {
                bail!("user {username} already exists");
            }
            println!("user {username} created ({})", role.label());
            if generated {
                println!("password (shown only now): {password}");
            }
        }
        UserCommand::Disable { username } => account(db, &username, AccountAction::Disable, None, now).await?,
        UserCommand::Enable { username } => account(db, &username, AccountAction::Enable, None, now).await?,
        UserCommand::SignOutEverywhere { username } => {
            account(db, &username, AccountAction::SignOutEverywhere, None, now).await?
        }
        UserCommand::SetPassword { username, password_stdin } => {
            let (password, generated) = new_password(password_stdin)?;
            account(db, &username, AccountAction::SetPassword, Some(password.clone()), now).await?;
            if generated {
                println!("password (shown only now): {password}");
            }
        }
        UserCommand::List => {
            for u in crate::auth::store::list(&db.pool).await? {
                let state = if u.disabled_at.is_some() { " (disabled)" } else { "" };
                println!("{:<32} {}{state}", u.user.username, u.user.role.label());
            }
        }
    }
    Ok(())
}

/// Creates a user after checking the password rule; `false` when the name is taken.
async fn create(db: &Db, username: &str, password: &str, role: &Role, actor: &str, now: i64) -> anyhow::Result<bool> {
    check_new_password(password)?;
    let hash = crate::auth::password::hash(password.to_owned()).await?;
    let mut tx = db.begin_write().await?;
    let created = crate::auth::store::create(&mut tx, username, &hash, role, actor, now).await?.is_some();
    tx.commit().await?;
    Ok(created)
}

/// Creates the first system admin from `username:password` when there are no users yet.
pub async fn bootstrap_admin(db: &Db, spec: &str, now: i64) -> anyhow::Result<()> {
    if crate::auth::store::count(&db.pool).await? > 0 {
        return Ok(());
    }
    let Some((name, password)) = spec.split_once(':') else {
        bail!("TOLLGATE_BOOTSTRAP_ADMIN must be username:password");
    };
    let username = parse_username(name)?;
    create(db, &username, password, &Role::SystemAdmin, actors::BOOTSTRAP, now).await?;
    println!("bootstrap: system admin {username} created");
    Ok(())
}

/// A new password: a line of stdin, or 20 random characters (then `true`: print it once).
fn new_password(from_stdin: bool) -> anyhow::Result<(String, bool)> {
    if from_stdin {
        let mut line = String::new();
        std::io::stdin().read_line(&mut line).context("reading the password from stdin")?;
        Ok((line.trim_end_matches(['\r', '\n']).to_owned(), false))
    } else {
        use rand::distr::{Alphanumeric, SampleString};
        Ok((Alphanumeric.sample_string(&mut rand::rng(), 20), true))
    }
}

/// One account change by the command line, printed as the console says it.
async fn account(
    db: &Db,
    username: &str,
    action: AccountAction,
    password: Option<String>,
    now: i64,
) -> anyhow::Result<()> {
    crate::auth::accounts::change(db, actors::CLI, username, action, password, now)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    println!("{}", action.done(&username.trim().to_lowercase()));
    Ok(())
}
