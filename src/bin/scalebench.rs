//! Scale benchmark of the reads that grow with the data: the Admin tab's Usage Limits list
//! (the usage table's query, also `GET /api/client/usage/limits`) and the usage history API,
//! on a database holding 10,000 tenants, 100,000 user overrides and 1,000,000 usage events.
//!
//! Seeds a fresh database (SQLite file or new PostgreSQL database) directly with SQL in
//! batches, starts a real `tollgate serve` on it, then sends each kind of request `--samples`
//! times one after another over one keep-alive connection and prints p50 / p99 / max in
//! milliseconds. The time is measured at the client over loopback, so it bounds the server's
//! time from above.
//!
//! Run: `make bench-scale` (both backends) or
//! `cargo run --release --features bench --bin scalebench -- --help`.

use clap::Parser;
use hdrhistogram::Histogram;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use tollgate::auth::{CurrentUser, Role};
use tollgate::bench::{free_port, now_ms, BenchDb};
use tollgate::db::{Db, DbOptions};

#[derive(Debug, Parser)]
#[command(about = "Times the Usage Limits list and the history API on a large database")]
struct Args {
    /// The server binary (build it with `cargo leptos build --release`).
    #[arg(long, default_value = "target/release/tollgate")]
    server: PathBuf,
    /// `sqlite` or `postgres`.
    #[arg(long, default_value = "sqlite")]
    backend: String,
    #[arg(long, env = "TOLLGATE_TEST_POSTGRES_URL", default_value = "postgres://postgres@127.0.0.1:5432/test")]
    postgres_url: String,
    #[arg(long, default_value_t = 10_000)]
    tenants: usize,
    /// User overrides per tenant.
    #[arg(long, default_value_t = 10)]
    overrides_per_tenant: usize,
    #[arg(long, default_value_t = 1_000_000)]
    events: usize,
    /// The share of the events that belong to one big tenant (`t00000`), in percent.
    #[arg(long, default_value_t = 20)]
    big_tenant_pct: usize,
    /// Requests per kind.
    #[arg(long, default_value_t = 300)]
    samples: usize,
}

const MODELS: [&str; 4] = ["gpt-4o", "gpt-4o-mini", "claude-3-5-sonnet", "gemini-1.5-pro"];
const USERS_PER_TENANT: usize = 50;
const ROWS_PER_INSERT: usize = 500;
const DAY_MS: i64 = 86_400_000;

fn main() -> Result<(), String> {
    let args = Args::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    runtime.block_on(run(args))
}

async fn run(args: Args) -> Result<(), String> {
    let db = BenchDb::create(&args.backend, &args.postgres_url, "scale").await?;
    let result = measure(&args, &db.url).await;
    db.remove().await;
    result
}

async fn measure(args: &Args, url: &str) -> Result<(), String> {
    let pool = Db::connect(&DbOptions::new(url)).await.map_err(|e| e.to_string())?;
    let started = Instant::now();
    let now = now_ms();
    seed(&pool, args, now).await.map_err(|e| format!("seeding: {e}"))?;
    let token = admin_token(&pool, now).await.map_err(|e| format!("token: {e}"))?;
    println!(
        "seeded {} tenants, {} overrides, {} events on {} in {:.0} s",
        args.tenants,
        args.tenants * args.overrides_per_tenant,
        args.events,
        args.backend,
        started.elapsed().as_secs_f64()
    );
    pool.pool.close().await;

    let addr = free_port()?;
    let mut server = Command::new(&args.server)
        .args(["serve", "--addr", &addr.to_string()])
        .env("DATABASE_URL", url)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", args.server.display()))?;
    let base = format!("http://{addr}");
    let client = reqwest::Client::builder().pool_max_idle_per_host(1).build().map_err(|e| e.to_string())?;
    let up = async {
        for _ in 0..600 {
            if client.get(format!("{base}/readyz")).send().await.is_ok_and(|r| r.status().is_success()) {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Err("the server did not come up within 30 s".to_owned())
    };
    let outcome = match up.await {
        Ok(()) => time_requests(args, &client, &base, &token, now).await,
        Err(e) => Err(e),
    };
    let _ = server.kill();
    let _ = server.wait();
    outcome
}

/// Tenants `t00000`…, each with one agent, a limit, every other one a budget, modes cycling
/// through default / monitor / enforce, `overrides_per_tenant` overrides and this period's
/// counters; the events spread over the last five days, one tenant holding `big_tenant_pct` %.
async fn seed(db: &Db, args: &Args, now: i64) -> Result<(), sqlx::Error> {
    let anchor = now - 5 * DAY_MS;
    let mut tx = db.pool.begin().await?;
    for chunk in (0..args.tenants).collect::<Vec<_>>().chunks(ROWS_PER_INSERT) {
        let rows: Vec<String> = chunk
            .iter()
            .map(|i| {
                let mode = ["NULL", "'monitor'", "'enforce'"][i % 3];
                let budget = if i % 2 == 0 { ((i % 97 + 1) * 1_000_000).to_string() } else { "NULL".into() };
                format!(
                    "('t{i:05}', 'Tenant {i}', {}, {anchor}, 30, {anchor}, {budget}, {mode})",
                    100_000 + (i % 50) * 10_000
                )
            })
            .collect();
        let sql = format!(
            "INSERT INTO tenants (id, display_name, token_limit, period_anchor, period_days, created_at, max_budget_micros, enforcement_mode) VALUES {}",
            rows.join(",")
        );
        sqlx::query(sqlx::AssertSqlSafe(sql)).execute(&mut *tx).await?;
        let agents: Vec<String> =
            chunk.iter().map(|i| format!("('t{i:05}', 'bot', 'hash-{i}', 'tg_bench', {anchor})")).collect();
        let sql = format!(
            "INSERT INTO agents (tenant_id, name, api_key_hash, api_key_prefix, created_at) VALUES {}",
            agents.join(",")
        );
        sqlx::query(sqlx::AssertSqlSafe(sql)).execute(&mut *tx).await?;
    }
    let overrides: Vec<(usize, usize)> =
        (0..args.tenants).flat_map(|t| (0..args.overrides_per_tenant).map(move |u| (t, u))).collect();
    for chunk in overrides.chunks(ROWS_PER_INSERT) {
        let rows: Vec<String> = chunk
            .iter()
            .map(|(t, u)| format!("('t{t:05}', 'u{u:02}', {}, {anchor}, {anchor})", 1_000 + u * 100))
            .collect();
        let sql = format!(
            "INSERT INTO user_limits (tenant_id, user_id, token_limit, created_at, updated_at) VALUES {}",
            rows.join(",")
        );
        sqlx::query(sqlx::AssertSqlSafe(sql)).execute(&mut *tx).await?;
    }
    // Agent ids follow tenant order from 1 in a fresh database.
    let big = args.events * args.big_tenant_pct / 100;
    let mut totals = vec![(0i64, 0i64, 0i64, 0i64); args.tenants];
    for start in (0..args.events).step_by(ROWS_PER_INSERT) {
        let rows: Vec<String> = (start..(start + ROWS_PER_INSERT).min(args.events))
            .map(|n| {
                let t = if n < big { 0 } else { 1 + (n * 7919) % (args.tenants - 1).max(1) };
                let (input, output) = (100 + (n % 900) as i64, 20 + (n % 200) as i64);
                let cost = (input + output) * 3;
                let total = &mut totals[t];
                *total = (total.0 + input, total.1 + output, total.2 + cost, total.3 + 1);
                let at = anchor + (n as i64 * 5 * DAY_MS / args.events as i64);
                format!(
                    "('t{t:05}', 'e{n:07}', {}, 'u{:02}', '{}', {input}, {output}, {cost}, {at}, {anchor})",
                    t + 1,
                    n % USERS_PER_TENANT,
                    MODELS[n % MODELS.len()]
                )
            })
            .collect();
        let sql = format!(
            "INSERT INTO usage_events (tenant_id, event_id, agent_id, user_id, model, input_tokens, output_tokens, cost_micros, occurred_at, period_start) VALUES {}",
            rows.join(",")
        );
        sqlx::query(sqlx::AssertSqlSafe(sql)).execute(&mut *tx).await?;
    }
    for chunk in totals.iter().enumerate().collect::<Vec<_>>().chunks(ROWS_PER_INSERT) {
        let rows: Vec<String> =
            chunk.iter().map(|(t, (i, o, c, n))| format!("('t{t:05}', {anchor}, {i}, {o}, {c}, {n})")).collect();
        let sql = format!(
            "INSERT INTO usage_counters (tenant_id, period_start, input_tokens, output_tokens, cost_micros, event_count) VALUES {}",
            rows.join(",")
        );
        sqlx::query(sqlx::AssertSqlSafe(sql)).execute(&mut *tx).await?;
    }
    tx.commit().await?;
    if db.backend == tollgate::db::Backend::Postgres {
        sqlx::query("ANALYZE").execute(&db.pool).await?;
    }
    Ok(())
}

/// A system admin and a personal API token of theirs.
async fn admin_token(db: &Db, now: i64) -> Result<String, sqlx::Error> {
    let mut conn = db.pool.acquire().await?;
    let user =
        tollgate::auth::store::create(&mut conn, "bench-admin", "not-a-real-hash", &Role::SystemAdmin, "bench", now)
            .await?
            .unwrap_or_default();
    let admin = CurrentUser { user_id: user, username: "bench-admin".into(), role: Role::SystemAdmin };
    Ok(tollgate::api_tokens::store::create(&mut conn, &admin, "bench", now).await?.token)
}

async fn time_requests(args: &Args, client: &reqwest::Client, base: &str, token: &str, now: i64) -> Result<(), String> {
    let iso = |ms: i64| tollgate::limits::period::rfc3339(ms);
    let from = iso(now - 3 * DAY_MS);
    let to = iso(now - 2 * DAY_MS);
    let kinds: Vec<(&str, Vec<String>)> = vec![
        ("limits: page 1 by tenant id", vec!["/api/client/usage/limits".into()]),
        ("limits: by Usage % (desc)", vec!["/api/client/usage/limits?sort=usage_pct&dir=desc".into()]),
        ("limits: by budget, page 150", vec!["/api/client/usage/limits?sort=budget&page=150".into()]),
        ("limits: by override count (desc)", vec!["/api/client/usage/limits?sort=overrides&dir=desc".into()]),
        ("limits: by mode, page 100", vec!["/api/client/usage/limits?sort=mode&page=100".into()]),
        ("limits: search", (0..50).map(|i| format!("/api/client/usage/limits?q=t0{i:02}")).collect()),
        ("history: big tenant, newest 100", vec!["/api/client/usage/history?tenant_id=t00000".into()]),
        ("history: small tenant", (1..50).map(|i| format!("/api/client/usage/history?tenant_id=t{i:05}")).collect()),
        ("history: big tenant, one user", vec!["/api/client/usage/history?tenant_id=t00000&user_id=u07".into()]),
        (
            "history: big tenant, one model",
            vec!["/api/client/usage/history?tenant_id=t00000&model=gemini-1.5-pro".into()],
        ),
        (
            "history: big tenant, a day's range",
            vec![format!("/api/client/usage/history?tenant_id=t00000&from={from}&to={to}")],
        ),
    ];
    println!("| request ({} samples each) | p50 ms | p99 ms | max ms |", args.samples);
    println!("| --- | ---: | ---: | ---: |");
    for (name, paths) in &kinds {
        let stats = sample(client, base, token, paths, args.samples).await?;
        println!("| {name} | {:.2} | {:.2} | {:.2} |", ms(&stats, 0.50), ms(&stats, 0.99), stats.max() as f64 / 1000.0);
    }
    // Deep paging: follow the cursor through the big tenant's history.
    let mut stats = Histogram::<u64>::new(3).map_err(|e| e.to_string())?;
    let mut cursor: Option<String> = None;
    for _ in 0..args.samples {
        let path = match &cursor {
            Some(c) => format!("/api/client/usage/history?tenant_id=t00000&limit=100&cursor={c}"),
            None => "/api/client/usage/history?tenant_id=t00000&limit=100".to_owned(),
        };
        let (elapsed, body) = timed(client, base, token, &path).await?;
        stats.record(elapsed).map_err(|e| e.to_string())?;
        cursor = body["next_cursor"].as_str().map(str::to_owned);
    }
    println!(
        "| history: big tenant, next page by cursor ({} pages deep) | {:.2} | {:.2} | {:.2} |",
        args.samples,
        ms(&stats, 0.50),
        ms(&stats, 0.99),
        stats.max() as f64 / 1000.0
    );
    Ok(())
}

async fn sample(
    client: &reqwest::Client,
    base: &str,
    token: &str,
    paths: &[String],
    n: usize,
) -> Result<Histogram<u64>, String> {
    let mut stats = Histogram::<u64>::new(3).map_err(|e| e.to_string())?;
    timed(client, base, token, &paths[0]).await?; // warm-up
    for i in 0..n {
        let (elapsed, _) = timed(client, base, token, &paths[i % paths.len()]).await?;
        stats.record(elapsed).map_err(|e| e.to_string())?;
    }
    Ok(stats)
}

/// One request: microseconds until the whole body was read, and the body.
async fn timed(
    client: &reqwest::Client,
    base: &str,
    token: &str,
    path: &str,
) -> Result<(u64, serde_json::Value), String> {
    let started = Instant::now();
    let res = client.get(format!("{base}{path}")).bearer_auth(token).send().await.map_err(|e| e.to_string())?;
    let status = res.status();
    let bytes = res.bytes().await.map_err(|e| e.to_string())?;
    let elapsed = started.elapsed().as_micros() as u64;
    if !status.is_success() {
        return Err(format!("{path}: {status} {}", String::from_utf8_lossy(&bytes)));
    }
    Ok((elapsed, serde_json::from_slice(&bytes).unwrap_or_default()))
}

fn ms(stats: &Histogram<u64>, q: f64) -> f64 {
    stats.value_at_quantile(q) as f64 / 1000.0
}
