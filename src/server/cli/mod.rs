//! The `tollgate` command line, one file per command. Every flag has an environment fallback;
//! every command reports failure the same way (`error: …` on stderr, exit code 1).

mod agent;
mod tenant;
pub mod user;

use super::serve::{self, ServeArgs};
use crate::clock::Clock;
use crate::db::{Db, DbOptions, SqliteSync};
use anyhow::Context;
use clap::{Parser, Subcommand};
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

    /// Seconds a request waits for a database connection before it is answered 503.
    #[arg(long, env = "TOLLGATE_DB_ACQUIRE_TIMEOUT_SECS", default_value_t = crate::db::DEFAULT_ACQUIRE_TIMEOUT_SECS, global = true)]
    pub db_acquire_timeout_secs: u64,

    #[command(subcommand)]
    pub command: Option<Command>,
}

// Parsed once per process: the size of `serve`'s flags does not matter.
#[allow(clippy::large_enum_variant)]
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
    Tenant(tenant::TenantCommand),
    /// Manage agents.
    #[command(subcommand)]
    Agent(agent::AgentCommand),
    /// Manage console users.
    #[command(subcommand)]
    User(user::UserCommand),
    /// Apply many tenants' token limits, budgets, modes and user overrides from a TOML or
    /// JSON file (`.json`), in one transaction; prints what changed. Running it again changes
    /// nothing. Format: docs/operations.md, "Seeding limits".
    SeedLimits {
        file: std::path::PathBuf,
        /// Print what would change, and change nothing.
        #[arg(long)]
        dry_run: bool,
    },
}

/// Runs the command line; the binary's `main`.
pub async fn main() -> ExitCode {
    init_tracing();
    let cli = Cli::parse();
    match run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn seed_limits(db: &Db, file: &std::path::Path, dry_run: bool, now: i64) -> anyhow::Result<()> {
    use crate::seed::{apply::apply, parse_seed, SeedFormat};
    let text = std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?;
    let seeds = parse_seed(&text, SeedFormat::of_path(&file.to_string_lossy()))?;
    let changes = apply(db, &seeds, crate::audit::actors::CLI, now, dry_run).await?;
    for change in &changes {
        println!("{change}");
    }
    let verb = if dry_run { "would change" } else { "changed" };
    println!(
        "{} tenants read; {verb} {} settings{}",
        seeds.len(),
        changes.len(),
        if dry_run { " (dry run: nothing written)" } else { "" }
    );
    Ok(())
}

fn init_tracing() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn"));
    let logs = tracing_subscriber::fmt().with_env_filter(filter).with_target(false);
    // One JSON object per line for log shippers; readable text otherwise.
    if std::env::var("TOLLGATE_LOG_FORMAT").is_ok_and(|f| f == "json") {
        logs.json().init();
    } else {
        logs.init();
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let options = DbOptions {
        url: cli.database_url.clone(),
        max_connections: cli.db_connections,
        sqlite_sync: cli.sqlite_synchronous,
        acquire_timeout: std::time::Duration::from_secs(cli.db_acquire_timeout_secs),
    };
    let db = Db::connect(&options).await.with_context(|| format!("cannot open database {}", cli.database_url))?;
    let now = Clock::System.now_ms();
    match cli.command.unwrap_or_else(|| Command::Serve(ServeArgs::default_from_env())) {
        Command::Serve(args) => serve::serve(db, args).await,
        Command::Migrate => {
            println!("migrations applied");
            Ok(())
        }
        Command::Demo => {
            let created = super::demo::load(&db, now).await?;
            super::demo::print_sign_ins(&created);
            Ok(())
        }
        Command::User(cmd) => user::run(&db, cmd, now).await,
        Command::Tenant(cmd) => tenant::run(&db, cmd, now).await,
        Command::Agent(cmd) => agent::run(&db, cmd, now).await,
        Command::SeedLimits { file, dry_run } => seed_limits(&db, &file, dry_run, now).await,
    }
}
