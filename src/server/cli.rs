//! The `tollgate` command line. Every flag has an environment fallback.

use super::db::{Db, DbOptions, SqliteSync};
use super::state::{AppParts, AppState, Clock};
use crate::enforce::Enforcer;
use crate::limits::{parse_optional_limit, TokenLimit};
use crate::tenants::store::{self as tenants, NewTenant};
use crate::tenants::TenantId;
use clap::{Args, Parser, Subcommand};
use leptos::prelude::LeptosOptions;
use std::net::SocketAddr;
use std::process::ExitCode;

#[derive(Debug, Parser)]
#[command(name = "tollgate", version, about = "Per-tenant LLM token limits, enforced on every agent call")]
pub struct Cli {
    /// Database: sqlite://<file> (created if missing) or postgres://user@host/db.
    #[arg(long, env = "DATABASE_URL", default_value = "sqlite://tollgate.db", global = true)]
    pub database_url: String,

    /// SQLite durability: `full` survives power loss, `normal` only process crashes.
    #[arg(long, env = "TOLLGATE_SQLITE_SYNCHRONOUS", default_value = "full", global = true)]
    pub sqlite_synchronous: SqliteSync,

    /// Database connections in the pool.
    #[arg(long, env = "TOLLGATE_DB_CONNECTIONS", default_value_t = 16, global = true)]
    pub db_connections: u32,

    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the console and the agent API (the default).
    Serve(ServeArgs),
    /// Apply database migrations and exit.
    Migrate,
    /// Load demo tenants, agents and usage (skips tenants that exist).
    Demo,
    /// Manage tenants.
    #[command(subcommand)]
    Tenant(TenantCommand),
    /// Manage agents.
    #[command(subcommand)]
    Agent(AgentCommand),
    /// Manage console users.
    #[command(subcommand)]
    User(UserCommand),
}

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

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "LEPTOS_SITE_ADDR", default_value = "127.0.0.1:3000")]
    pub addr: SocketAddr,
    /// Directory holding the built site (`pkg/` with the wasm bundle and CSS).
    #[arg(long, env = "LEPTOS_SITE_ROOT", default_value = "target/site")]
    pub site_root: String,
    /// Load the demo data first when the database has no tenants, and print the demo sign-ins.
    #[arg(long)]
    pub demo: bool,
    /// Mark the session cookie Secure; set it when the console is reached over HTTPS.
    #[arg(long, env = "TOLLGATE_SECURE_COOKIES")]
    pub secure_cookies: bool,
    /// Seconds an admitted check's reservation lasts if no report settles it.
    #[arg(long, env = "TOLLGATE_RESERVATION_TTL_SECS", default_value_t = 300)]
    pub reservation_ttl_secs: u64,
    /// `username:password` of a system admin to create on start when there are no users yet.
    #[arg(long, env = "TOLLGATE_BOOTSTRAP_ADMIN", hide_env_values = true)]
    pub bootstrap_admin: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum TenantCommand {
    /// Create a tenant.
    Create {
        id: String,
        /// Display name (defaults to the id).
        #[arg(long)]
        name: Option<String>,
        /// Tokens per budget period; omit for No Limit.
        #[arg(long)]
        token_limit: Option<String>,
    },
    /// List tenants with their limits.
    List,
    /// Set a tenant's token limit; `none` removes it.
    SetLimit { id: String, token_limit: String },
}

#[derive(Debug, Subcommand)]
pub enum AgentCommand {
    /// Create an agent for an existing tenant and print its API key (shown only this once).
    Create { tenant_id: String, name: String },
}

/// Runs the command line; the binary's `main`.
pub async fn main() -> ExitCode {
    init_tracing();
    let cli = Cli::parse();
    match run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

fn init_tracing() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn"));
    tracing_subscriber::fmt().with_env_filter(filter).with_target(false).init();
}

async fn run(cli: Cli) -> Result<(), String> {
    let options = DbOptions {
        url: cli.database_url.clone(),
        max_connections: cli.db_connections,
        sqlite_sync: cli.sqlite_synchronous,
    };
    let db = Db::connect(&options).await.map_err(|e| format!("cannot open database {}: {e}", cli.database_url))?;
    let now = Clock::System.now_ms();
    match cli.command.unwrap_or(Command::Serve(ServeArgs::default_from_env())) {
        Command::Serve(args) => serve(db, args).await,
        Command::Migrate => {
            println!("migrations applied");
            Ok(())
        }
        Command::Demo => {
            let created = super::demo::load(&db, now).await.map_err(|e| e.to_string())?;
            print_demo_keys(created);
            Ok(())
        }
        Command::User(cmd) => user_command(&db, cmd, now).await,
        Command::Tenant(cmd) => tenant_command(&db, cmd, now).await,
        Command::Agent(AgentCommand::Create { tenant_id, name }) => {
            let id = TenantId::parse(&tenant_id).map_err(|e| e.to_string())?;
            let agent_name = crate::agents::parse_agent_name(&name).map_err(|e| e.to_string())?;
            if tenants::get(&db.pool, &id).await.map_err(|e| e.to_string())?.is_none() {
                return Err(format!("no tenant with id {id}; create it first with `tollgate tenant create {id}`"));
            }
            let tenant = NewTenant { display_name: id.to_string(), id, token_limit: None };
            let agent = crate::agents::store::deploy(&db, tenant, agent_name, now).await.map_err(|e| e.to_string())?;
            println!("agent {} created for tenant {}", agent.agent_id, agent.tenant_id);
            println!("API key (shown only now): {}", agent.api_key);
            Ok(())
        }
    }
}

impl ServeArgs {
    /// `tollgate` with no subcommand serves, still honouring the serve flags' variables.
    fn default_from_env() -> Self {
        #[derive(Parser)]
        struct Only {
            #[command(flatten)]
            serve: ServeArgs,
        }
        Only::parse_from(["tollgate"]).serve
    }
}

async fn tenant_command(db: &Db, cmd: TenantCommand, now: i64) -> Result<(), String> {
    let text = |e: crate::validation::FieldError| e.to_string();
    match cmd {
        TenantCommand::Create { id, name, token_limit } => {
            let id = TenantId::parse(&id).map_err(text)?;
            let token_limit = parse_optional_limit(token_limit.as_deref().unwrap_or_default()).map_err(text)?;
            let display_name =
                crate::validation::short_text("name", name.as_deref().unwrap_or(id.as_str()), 100).map_err(text)?;
            let mut conn = db.pool.acquire().await.map_err(|e| e.to_string())?;
            let tenant = NewTenant { id: id.clone(), display_name, token_limit };
            if tenants::create(&mut conn, &tenant, now).await.map_err(|e| e.to_string())? {
                println!("tenant {id} created");
                Ok(())
            } else {
                Err(format!("tenant {id} already exists"))
            }
        }
        TenantCommand::List => {
            let rows = tenants::list(&db.pool).await.map_err(|e| e.to_string())?;
            println!("{:<32} {:<32} {:>18}", "TENANT", "NAME", "TOKEN LIMIT");
            for t in rows {
                let limit = t.token_limit().map_or("No Limit".to_owned(), |l| l.to_string());
                println!("{:<32} {:<32} {:>18}", t.id, t.display_name, limit);
            }
            Ok(())
        }
        TenantCommand::SetLimit { id, token_limit } => {
            let id = TenantId::parse(&id).map_err(text)?;
            let limit = if token_limit.trim().eq_ignore_ascii_case("none") {
                None
            } else {
                Some(TokenLimit::parse(&token_limit).map_err(text)?)
            };
            if tenants::set_token_limit(&db.pool, &id, limit).await.map_err(|e| e.to_string())? {
                println!("tenant {id}: token limit {}", limit.map_or("No Limit".to_owned(), |l| l.to_string()));
                Ok(())
            } else {
                Err(format!("no tenant with id {id}"))
            }
        }
    }
}

fn print_demo_keys(created: Vec<crate::agents::DeployedAgent>) {
    if created.is_empty() {
        println!("demo data already present");
    }
    for agent in created {
        println!("demo tenant {:<10} agent key {}", agent.tenant_id, agent.api_key);
    }
    for (username, password, tenant) in super::demo::USERS {
        println!("demo sign-in: {username} / {password}  ({})", super::demo::role_of(tenant).label());
    }
}

async fn user_command(db: &Db, cmd: UserCommand, now: i64) -> Result<(), String> {
    use crate::auth::model::{check_new_password, parse_username, Role};
    let text = |e: crate::validation::FieldError| e.to_string();
    match cmd {
        UserCommand::Create { username, admin, tenant, password_stdin } => {
            let username = parse_username(&username).map_err(text)?;
            let role = match (admin, tenant) {
                (true, _) => Role::SystemAdmin,
                (false, Some(t)) => {
                    let id = TenantId::parse(&t).map_err(text)?;
                    if tenants::get(&db.pool, &id).await.map_err(|e| e.to_string())?.is_none() {
                        return Err(format!("no tenant with id {id}"));
                    }
                    Role::TenantAdmin { tenant_id: id.to_string() }
                }
                (false, None) => return Err("give --admin or --tenant <id>".into()),
            };
            let (password, generated) = if password_stdin {
                let mut line = String::new();
                std::io::stdin().read_line(&mut line).map_err(|e| e.to_string())?;
                (line.trim_end_matches(['\r', '\n']).to_owned(), false)
            } else {
                use rand::distr::{Alphanumeric, SampleString};
                (Alphanumeric.sample_string(&mut rand::rng(), 20), true)
            };
            check_new_password(&password).map_err(text)?;
            let hash = crate::auth::password::hash(password.clone()).await.map_err(|e| e.to_string())?;
            match crate::auth::store::create(&db.pool, &username, &hash, &role, now).await.map_err(|e| e.to_string())? {
                None => Err(format!("user {username} already exists")),
                Some(_) => {
                    println!("user {username} created ({})", role.label());
                    if generated {
                        println!("password (shown only now): {password}");
                    }
                    Ok(())
                }
            }
        }
        UserCommand::List => {
            for u in crate::auth::store::list(&db.pool).await.map_err(|e| e.to_string())? {
                println!("{:<32} {}", u.username, u.role.label());
            }
            Ok(())
        }
    }
}

/// Creates the first system admin from `username:password` when there are no users yet.
async fn bootstrap_admin(db: &Db, spec: &str, now: i64) -> Result<(), String> {
    use crate::auth::model::{check_new_password, parse_username, Role};
    if crate::auth::store::count(&db.pool).await.map_err(|e| e.to_string())? > 0 {
        return Ok(());
    }
    let (name, password) = spec.split_once(':').ok_or("TOLLGATE_BOOTSTRAP_ADMIN must be username:password")?;
    let username = parse_username(name).map_err(|e| e.to_string())?;
    check_new_password(password).map_err(|e| e.to_string())?;
    let hash = crate::auth::password::hash(password.to_owned()).await.map_err(|e| e.to_string())?;
    crate::auth::store::create(&db.pool, &username, &hash, &Role::SystemAdmin, now).await.map_err(|e| e.to_string())?;
    println!("bootstrap: system admin {username} created");
    Ok(())
}

/// Builds the state and serves until Ctrl-C or SIGTERM, then lets the usage writer commit
/// what it has accepted before exiting.
async fn serve(db: Db, args: ServeArgs) -> Result<(), String> {
    let now = Clock::System.now_ms();
    if let Some(spec) = &args.bootstrap_admin {
        bootstrap_admin(&db, spec, now).await?;
    }
    if args.demo {
        let created = if tenants::list(&db.pool).await.map_err(|e| e.to_string())?.is_empty() {
            super::demo::load(&db, now).await.map_err(|e| e.to_string())?
        } else {
            Vec::new()
        };
        print_demo_keys(created);
    }
    if crate::auth::store::count(&db.pool).await.map_err(|e| e.to_string())? == 0 {
        println!("no console users yet: create one with `tollgate user create <name> --admin`");
    }
    let leptos_options = LeptosOptions::builder()
        .output_name("tollgate")
        .site_root(args.site_root.as_str())
        .site_pkg_dir("pkg")
        .site_addr(args.addr)
        .build();
    let (enforcer, writer, writer_task) = Enforcer::start(&db, args.reservation_ttl_secs.saturating_mul(1000) as i64);
    let upkeep = enforcer.spawn_upkeep(Clock::System);
    let state = AppState::new(AppParts {
        leptos_options,
        db: db.clone(),
        writer,
        enforcer,
        clock: Clock::System,
        secure_cookies: args.secure_cookies,
    });
    let sessions = tokio::spawn(delete_expired_sessions(db));
    let listener =
        tokio::net::TcpListener::bind(args.addr).await.map_err(|e| format!("cannot listen on {}: {e}", args.addr))?;
    println!("Tollgate listening on http://{}", args.addr);
    let app = super::routes::router(state).into_make_service_with_connect_info::<SocketAddr>();
    axum::serve(listener, app).with_graceful_shutdown(shutdown_signal()).await.map_err(|e| e.to_string())?;
    // The upkeep task holds a writer handle; once it and the router are gone, the writer
    // drains its queue and stops, and every accepted report is committed.
    upkeep.abort();
    sessions.abort();
    let _ = writer_task.await;
    Ok(())
}

/// Expired sessions are never loaded; this removes their rows once an hour.
async fn delete_expired_sessions(db: Db) {
    use tower_sessions::session_store::ExpiredDeletion;
    let store = crate::auth::session_store::DbSessionStore::new(db);
    let mut every_hour = tokio::time::interval(std::time::Duration::from_secs(3600));
    loop {
        every_hour.tick().await;
        if let Err(e) = store.delete_expired().await {
            tracing::warn!(error = %e, "deleting expired sessions failed");
        }
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! { _ = ctrl_c => {}, _ = terminate => {} }
    tracing::info!("shutting down");
}
