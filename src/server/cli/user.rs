//! `tollgate user create|list`, and the bootstrap admin of `serve`.

use crate::audit::actors;
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
            let (password, generated) = if password_stdin {
                let mut line = String::new();
                std::io::stdin().read_line(&mut line).context("reading the password from stdin")?;
                (line.trim_end_matches(['\r', '\n']).to_owned(), false)
            } else {
                use rand::distr::{Alphanumeric, SampleString};
                (Alphanumeric.sample_string(&mut rand::rng(), 20), true)
            };
            if !create(db, &username, &password, &role, actors::CLI, now).await? {
                bail!("user {username} already exists");
            }
            println!("user {username} created ({})", role.label());
            if generated {
                println!("password (shown only now): {password}");
            }
        }
        UserCommand::List => {
            for u in crate::auth::store::list(&db.pool).await? {
                println!("{:<32} {}", u.username, u.role.label());
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
