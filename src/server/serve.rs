//! `tollgate serve`: builds the state, serves until Ctrl-C or SIGTERM, then lets the gate's
//! writer commit what it has accepted before exiting.

use super::cli::user::bootstrap_admin;
use crate::alerts::notifier::WebhookConfig;
use crate::budgets::litellm::LiteLlm;
use crate::budgets::rules::{BudgetConfig, BudgetForm};
use crate::clock::Clock;
use crate::db::Db;
use crate::enforce::{Gate, GateConfig};
use crate::limits::{EnforcementMode, TokenLimit};
use crate::state::{AppParts, AppState};
use crate::tenants::store as tenants;
use crate::tenants::store::TenantDefaults;
use crate::usage::price_db::Prices;
use anyhow::Context;
use clap::{Args, Parser};
use leptos::prelude::LeptosOptions;
use std::net::SocketAddr;
use std::sync::Arc;

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
    /// LiteLLM's base URL: saving a budget then updates the tenant's virtual key first.
    #[arg(long, env = "LITELLM_URL", requires = "litellm_master_key")]
    pub litellm_url: Option<String>,
    /// LiteLLM's master key, for its admin API.
    #[arg(long, env = "LITELLM_MASTER_KEY", hide_env_values = true)]
    pub litellm_master_key: Option<String>,
    /// Show LiteLLM's spend of each tenant's virtual key on the budget page (`/key/info`,
    /// cached 60 s) instead of Tollgate's ledger; enforcement still uses the ledger.
    #[arg(long, env = "TOLLGATE_BUDGET_SPEND_FROM_LITELLM", requires = "litellm_url")]
    pub budget_spend_from_litellm: bool,
    /// A JSON price file that wins, per model, over the bundled genai-prices database: LiteLLM's
    /// `model_prices_and_context_window.json` or `{"model": {"input_usd_per_mtok", "output_usd_per_mtok", …}}`.
    #[arg(long, env = "TOLLGATE_PRICE_FILE")]
    pub price_file: Option<std::path::PathBuf>,
    /// POST every budget alert as JSON to this URL (retried with back-off until accepted).
    #[arg(long, env = "TOLLGATE_ALERT_WEBHOOK_URL")]
    pub alert_webhook_url: Option<String>,
    /// The mode of every tenant that has not chosen one: `enforce` refuses calls over a limit,
    /// `monitor` lets them through and counts them ("would have blocked"), `off` only records
    /// usage. The rollout switch: start with `monitor`, then `enforce`.
    #[arg(long, env = "TOLLGATE_ENFORCEMENT_MODE", default_value = "enforce", value_parser = parse_mode)]
    pub enforcement_mode: EnforcementMode,
    /// How many tenants get series of their own in `/metrics`; the rest are counted as `_other`.
    #[arg(long, env = "TOLLGATE_METRICS_TENANT_CAP", default_value_t = 100)]
    pub metrics_tenant_cap: usize,
    /// A bearer token scrapers must send to read `/metrics` (which names tenants and their
    /// usage). Without it and without `--metrics-addr`, only this machine may read them.
    #[arg(long, env = "TOLLGATE_METRICS_TOKEN", hide_env_values = true)]
    pub metrics_token: Option<String>,
    /// Serve `/metrics` on this address only (an internal interface), not on `--addr`.
    #[arg(long, env = "TOLLGATE_METRICS_ADDR")]
    pub metrics_addr: Option<SocketAddr>,
    /// The token limit of a tenant created from the console without one (default: No Limit).
    #[arg(long, env = "TOLLGATE_DEFAULT_TOKEN_LIMIT", value_parser = parse_limit)]
    pub default_token_limit: Option<TokenLimit>,
    /// The budget (USD, alert 80 %, grace 110 %, 30 days) of a tenant created from the console
    /// (default: none).
    #[arg(long, env = "TOLLGATE_DEFAULT_MAX_BUDGET", value_parser = parse_budget)]
    pub default_max_budget: Option<BudgetConfig>,
    /// The OpenAI-compatible proxy's upstreams: a TOML file of `[[upstreams]]` (name,
    /// base_url, api_key or api_key_env, models, timeout_secs); docs/proxy.md. Without it
    /// `/v1` answers every model "not found".
    #[arg(long, env = "TOLLGATE_UPSTREAMS_FILE")]
    pub upstreams_file: Option<std::path::PathBuf>,
    /// Output tokens reserved for a proxied chat call that sets no `max_tokens`.
    #[arg(long, env = "TOLLGATE_PROXY_DEFAULT_MAX_TOKENS", default_value_t = crate::proxy::DEFAULT_MAX_OUTPUT_TOKENS)]
    pub proxy_default_max_tokens: u64,
    /// Seconds the proxy keeps reading a stream whose client left, waiting for its usage.
    #[arg(long, env = "TOLLGATE_PROXY_DRAIN_SECS", default_value_t = crate::proxy::DEFAULT_DRAIN_SECS)]
    pub proxy_drain_secs: u64,
    /// Streams drained at once at most; beyond it an abandoned stream is settled at its estimate.
    #[arg(long, env = "TOLLGATE_PROXY_MAX_DRAINS", default_value_t = crate::proxy::DEFAULT_MAX_DRAINS)]
    pub proxy_max_drains: usize,
}

fn parse_limit(text: &str) -> Result<TokenLimit, String> {
    TokenLimit::parse(text).map_err(|e| e.message)
}

fn parse_budget(text: &str) -> Result<BudgetConfig, String> {
    let form = BudgetForm { max_budget: text.to_owned(), ..BudgetForm::of(None) };
    BudgetConfig::parse(&form).map_err(|errors| errors.into_iter().map(|e| e.message).collect::<Vec<_>>().join("; "))
}

fn parse_mode(text: &str) -> Result<EnforcementMode, String> {
    EnforcementMode::parse("--enforcement-mode", text).map_err(|e| e.message)
}

impl ServeArgs {
    /// `tollgate` with no subcommand serves, still honouring the serve flags' variables.
    pub fn default_from_env() -> Self {
        #[derive(Parser)]
        struct Only {
            #[command(flatten)]
            serve: ServeArgs,
        }
        Only::parse_from(["tollgate"]).serve
    }
}

pub async fn serve(db: Db, args: ServeArgs) -> anyhow::Result<()> {
    let clock = Clock::System;
    let now = clock.now_ms();
    crate::metrics::install();
    crate::metrics::set_tenant_cap(args.metrics_tenant_cap);
    if let Some(spec) = &args.bootstrap_admin {
        bootstrap_admin(&db, spec, now).await?;
    }
    if args.demo {
        let created =
            if tenants::list(&db.pool).await?.is_empty() { super::demo::load(&db, now).await? } else { Vec::new() };
        super::demo::print_sign_ins(&created);
    }
    if crate::auth::store::count(&db.pool).await? == 0 {
        println!("no console users yet: create one with `tollgate user create <name> --admin`");
    }
    let leptos_options = LeptosOptions::builder()
        .output_name("tollgate")
        .site_root(args.site_root.as_str())
        .site_pkg_dir("pkg")
        .site_addr(args.addr)
        .hash_files(bundle_is_hashed())
        .build();
    let config = GateConfig {
        reservation_ttl_ms: args.reservation_ttl_secs.saturating_mul(1000) as i64,
        prices: Arc::new(load_prices(args.price_file.as_deref())?),
        default_mode: args.enforcement_mode,
    };
    let (gate, gate_tasks) = Gate::start(db.clone(), clock.clone(), config);
    let litellm = match (&args.litellm_url, &args.litellm_master_key) {
        (Some(url), Some(key)) => {
            Some(LiteLlm::new(url, key).map_err(anyhow::Error::msg)?.reading_spend(args.budget_spend_from_litellm))
        }
        _ => None,
    };
    let proxy = crate::proxy::Proxy::new(crate::proxy::ProxyConfig {
        upstreams: load_upstreams(args.upstreams_file.as_deref())?,
        default_max_output_tokens: args.proxy_default_max_tokens,
        drain_timeout: std::time::Duration::from_secs(args.proxy_drain_secs),
        max_drains: args.proxy_max_drains,
    })
    .map_err(anyhow::Error::msg)?;
    let settlements = proxy.clone();
    let metrics_access = crate::metrics::MetricsAccess {
        token: args.metrics_token.clone().filter(|t| !t.trim().is_empty()),
        own_listener: args.metrics_addr.is_some(),
    };
    let state = AppState::new(AppParts {
        leptos_options,
        db: db.clone(),
        gate,
        clock: clock.clone(),
        secure_cookies: args.secure_cookies,
        litellm,
        tenant_defaults: TenantDefaults { token_limit: args.default_token_limit, budget: args.default_max_budget },
        proxy,
        metrics_access: metrics_access.clone(),
    });
    let alerts = args
        .alert_webhook_url
        .as_deref()
        .map(|url| crate::alerts::notifier::spawn(db.clone(), clock.clone(), WebhookConfig::new(url)));
    let sessions = tokio::spawn(delete_expired_sessions(db));
    let listener =
        tokio::net::TcpListener::bind(args.addr).await.with_context(|| format!("cannot listen on {}", args.addr))?;
    let metrics_listener = match args.metrics_addr {
        Some(addr) => {
            let listener = tokio::net::TcpListener::bind(addr)
                .await
                .with_context(|| format!("cannot listen on {addr} for metrics"))?;
            println!("metrics on http://{addr}/metrics");
            let router = crate::api::health::metrics_router(metrics_access);
            Some(tokio::spawn(super::listen::serve(listener, router, std::future::pending())))
        }
        None => None,
    };
    println!("Tollgate listening on http://{}", args.addr);
    super::listen::serve(listener, super::routes::router(state), shutdown_signal()).await;
    // Proxied calls already answered hand their usage to the writer first (streams still
    // draining get a bounded wait), then the router (and with it the last gate handle) is
    // gone: the writer drains its queue and stops, and every accepted report is committed.
    let unsettled = settlements.finish_settlements(std::time::Duration::from_secs(30)).await;
    if unsettled > 0 {
        tracing::error!(unsettled, "proxied calls not settled at shutdown: their usage is not recorded");
    }
    drop(settlements);
    sessions.abort();
    if let Some(metrics) = metrics_listener {
        metrics.abort();
    }
    if let Some(alerts) = alerts {
        alerts.abort();
    }
    gate_tasks.finish().await;
    Ok(())
}

/// The operator's price file (if any) over the bundled price database.
fn load_prices(file: Option<&std::path::Path>) -> anyhow::Result<Prices> {
    let Some(path) = file else { return Ok(Prices::default()) };
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read the price file {}", path.display()))?;
    let file = crate::usage::price_file::parse(&text)
        .map_err(|e| anyhow::anyhow!("the price file {} is invalid: {e}", path.display()))?;
    println!(
        "prices: {} models from {} ({} entries not priced per token skipped) over the genai-prices database",
        file.table.len(),
        path.display(),
        file.skipped,
    );
    Ok(Prices::with_file(file.table))
}

/// The proxy's upstreams from the operator's file (none without one).
fn load_upstreams(file: Option<&std::path::Path>) -> anyhow::Result<crate::proxy::upstreams::Upstreams> {
    use crate::proxy::upstreams::Upstreams;
    let Some(path) = file else { return Ok(Upstreams::default()) };
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read the upstreams file {}", path.display()))?;
    let upstreams = Upstreams::parse(&text, |var| std::env::var(var).ok())
        .map_err(|e| anyhow::anyhow!("the upstreams file {} is invalid: {}: {}", path.display(), e.field, e.message))?;
    for u in upstreams.all() {
        println!("proxy: {} at {} for {}", u.name, u.base_url, u.models.join(", "));
    }
    Ok(upstreams)
}

/// Whether the release build hashed the bundle's file names: cargo-leptos then writes
/// `hash.txt` beside the binary, and Leptos reads the names from it.
fn bundle_is_hashed() -> bool {
    let file = std::env::current_exe().ok().and_then(|exe| Some(exe.parent()?.join("hash.txt")));
    file.is_some_and(|f| f.exists())
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
