//! Load generator for Tollgate's agent API.
//!
//! Starts a real `tollgate serve` process on a fresh database (SQLite file or a new
//! PostgreSQL database), creates tenants and agents, then drives the API over loopback with
//! keep-alive HTTP/1.1 connections, one request in flight per connection, and prints
//! requests/s and latency percentiles per scenario:
//!
//! - `noop`: `GET /healthz`, the same-run baseline of a route that does nothing;
//! - `check`: `POST /api/agent/usage/check` without an estimate;
//! - `check-reserve`: the check with `estimated_tokens`, which reserves;
//! - `report`: `POST /api/agent/usage/report` with a new event id each time;
//! - `budget-check` and `budget-report`: the same check (with the model, so the estimate's
//!   cost is reserved too) and report against tenants that also have a USD budget, so the
//!   budget's cost is the difference to `check-reserve` and `report` in the same run.
//!
//! After `report` the server is killed with SIGKILL and the events are counted in the
//! database: every acknowledged report must be there (durable on commit).
//!
//! With `--baseline <binary>` (another build, e.g. the commit before a change), both servers
//! run side by side on databases of their own and every scenario is driven against each, back
//! to back, alternating which goes first in each of `--rounds` rounds; the table then compares.
//!
//! Every run goes through the scenarios `--rounds` times, forwards in even rounds and backwards
//! in odd ones, and sums each scenario over the rounds: the database grows with every report
//! scenario, so a fixed order would charge the later one for the earlier one's rows.
//!
//! Run: `make bench` or `cargo run --release --features bench --bin loadgen -- --help`.

use bytes::Bytes;
use clap::Parser;
use hdrhistogram::Histogram;
use http_body_util::Full;
use hyper::Request;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tollgate::bench::{bench_tenant, free_port, get, now_ms, post, wait_until_up, BenchDb, Connection};
use tollgate::db::{Db, DbOptions};
use tollgate::limits::TokenLimit;
use tollgate::tenants::TenantId;

#[derive(Debug, Parser)]
#[command(about = "Drives a real tollgate server over loopback and reports throughput and latency")]
struct Args {
    /// The server binary (build it with `cargo leptos build --release`).
    #[arg(long, default_value = "target/release/tollgate")]
    server: PathBuf,
    /// Keep-alive connections, each with one request in flight.
    #[arg(long, default_value_t = 64)]
    connections: usize,
    /// Measured seconds per scenario (after one second of warm-up).
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Comma-separated scenarios: noop, check, check-reserve, report, budget-check, budget-report,
    /// user-check, user-report.
    #[arg(long, default_value = "noop,check,check-reserve,report,budget-check,budget-report,user-check,user-report")]
    scenarios: String,
    /// `sqlite` or `postgres`.
    #[arg(long, default_value = "sqlite")]
    backend: String,
    /// A PostgreSQL database to create the benchmark database from.
    #[arg(long, env = "TOLLGATE_TEST_POSTGRES_URL", default_value = "postgres://postgres@127.0.0.1:5432/test")]
    postgres_url: String,
    /// SQLite durability for the server (`full` or `normal`).
    #[arg(long, default_value = "full")]
    sqlite_synchronous: String,
    /// Tenants (each with one agent); connections spread over them.
    #[arg(long, default_value_t = 64)]
    tenants: usize,
    /// Worker threads of the load generator itself (the server gets the rest of the machine).
    #[arg(long, default_value_t = 1)]
    client_threads: usize,
    /// Another server binary to compare with, measured in the same run.
    #[arg(long)]
    baseline: Option<PathBuf>,
    /// Rounds through all scenarios, alternating their order (and, with `--baseline`, which
    /// server goes first).
    #[arg(long, default_value_t = 3)]
    rounds: usize,
}

fn main() -> Result<(), String> {
    let args = Args::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.client_threads.max(1))
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    runtime.block_on(run(args))
}

async fn create_db(args: &Args, label: &str) -> Result<BenchDb, String> {
    BenchDb::create(&args.backend, &args.postgres_url, label).await
}

/// Users per bench tenant with an override (the user scenarios).
const BENCH_USERS: usize = 8;

/// Creates `n` tenants with a token limit no run reaches (and, with `budget`, a USD budget no
/// run reaches either), one agent each; returns their keys.
async fn create_agents(url: &str, n: usize, budget: bool, users: bool) -> Result<Vec<String>, String> {
    let db = Db::connect(&DbOptions::new(url)).await.map_err(|e| e.to_string())?;
    let mut keys = Vec::with_capacity(n);
    let prefix = if budget { "bench-budget" } else { "bench" };
    for i in 0..n {
        let id = TenantId::parse(&format!("{prefix}-{i}")).map_err(|e| e.to_string())?;
        let key = bench_tenant(&db, &id, "loadgen", budget).await?;
        if users {
            let mut conn = db.pool.acquire().await.map_err(|e| e.to_string())?;
            let limit = TokenLimit::new(1 << 50).map_err(|e| e.to_string())?;
            for u in 0..BENCH_USERS {
                tollgate::overrides::store::set(
                    &mut conn,
                    &id,
                    &format!("u-{u}"),
                    limit,
                    tollgate::overrides::store::SetKind::CreateOrChange,
                    "loadgen",
                    now_ms(),
                )
                .await
                .map_err(|e| e.to_string())?;
            }
        }
        keys.push(key);
    }
    db.pool.close().await;
    Ok(keys)
}

fn start_server(args: &Args, binary: &std::path::Path, url: &str, addr: SocketAddr) -> Result<Child, String> {
    Command::new(binary)
        .args(["serve", "--addr", &addr.to_string()])
        .env("DATABASE_URL", url)
        .env("TOLLGATE_SQLITE_SYNCHRONOUS", &args.sqlite_synchronous)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start {}: {e} (build it with `cargo leptos build --release`)", binary.display()))
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Scenario {
    Noop,
    Check,
    CheckReserve,
    Report,
    BudgetCheck,
    BudgetReport,
    UserCheck,
    UserReport,
}

impl Scenario {
    fn parse(s: &str) -> Result<Self, String> {
        match s.trim() {
            "noop" => Ok(Self::Noop),
            "check" => Ok(Self::Check),
            "check-reserve" => Ok(Self::CheckReserve),
            "report" => Ok(Self::Report),
            "budget-check" => Ok(Self::BudgetCheck),
            "budget-report" => Ok(Self::BudgetReport),
            "user-check" => Ok(Self::UserCheck),
            "user-report" => Ok(Self::UserReport),
            other => Err(format!("unknown scenario {other:?}")),
        }
    }

    fn name(self) -> &'static str {
        match self {
            Self::Noop => "noop (GET /healthz)",
            Self::Check => "check",
            Self::CheckReserve => "check + reserve",
            Self::Report => "report",
            Self::BudgetCheck => "budget: check + reserve",
            Self::BudgetReport => "budget: report",
            Self::UserCheck => "user override: check + reserve",
            Self::UserReport => "user override: report",
        }
    }

    fn has_budget(self) -> bool {
        matches!(self, Self::BudgetCheck | Self::BudgetReport)
    }

    fn has_users(self) -> bool {
        matches!(self, Self::UserCheck | Self::UserReport)
    }

    fn reports(self) -> bool {
        matches!(self, Self::Report | Self::BudgetReport | Self::UserReport)
    }

    /// `run` tells drives apart, so a later round's reports are new events, not replays.
    fn request(self, key: &str, run: u64, conn: usize, seq: u64) -> Request<Full<Bytes>> {
        match self {
            Self::Noop => get("/healthz"),
            Self::Check => post("/api/agent/usage/check", key, String::new()),
            Self::CheckReserve => post("/api/agent/usage/check", key, r#"{"estimated_tokens":1}"#.into()),
            Self::BudgetCheck => {
                post("/api/agent/usage/check", key, r#"{"estimated_tokens":1,"model":"gpt-4o-mini"}"#.into())
            }
            // Eight users per tenant, each with an override no run reaches.
            Self::UserCheck => post(
                "/api/agent/usage/check",
                key,
                format!(r#"{{"estimated_tokens":1,"user_id":"u-{}"}}"#, conn % BENCH_USERS),
            ),
            Self::UserReport => post(
                "/api/agent/usage/report",
                key,
                format!(
                    r#"{{"event_id":"lg-{run}-{conn}-{seq}","model":"gpt-4o-mini","input_tokens":10,"output_tokens":5,"user_id":"u-{}"}}"#,
                    conn % BENCH_USERS
                ),
            ),
            Self::Report | Self::BudgetReport => post(
                "/api/agent/usage/report",
                key,
                format!(
                    r#"{{"event_id":"lg-{run}-{conn}-{seq}","model":"gpt-4o-mini","input_tokens":10,"output_tokens":5}}"#
                ),
            ),
        }
    }
}

#[derive(Debug)]
struct Stats {
    scenario: Scenario,
    ok: u64,
    errors: u64,
    /// Successful answers including the warm-up (for the durability check).
    acknowledged: u64,
    seconds: f64,
    latency_us: Histogram<u64>,
}

impl Stats {
    fn rate(&self) -> f64 {
        self.ok as f64 / self.seconds
    }

    fn ms(&self, q: f64) -> f64 {
        self.latency_us.value_at_quantile(q) as f64 / 1000.0
    }
}

/// Drives one scenario: `connections` tasks, each sending requests back to back.
async fn drive(addr: SocketAddr, keys: Arc<Vec<String>>, scenario: Scenario, args: &Args) -> Result<Stats, String> {
    static RUNS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let run = RUNS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let warmup = Duration::from_secs(1);
    let measured = Duration::from_secs(args.seconds);
    let start = Instant::now();
    let mut tasks = Vec::new();
    for conn_index in 0..args.connections {
        let keys = keys.clone();
        tasks.push(tokio::spawn(async move {
            let mut hist = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).map_err(|e| e.to_string())?;
            let (mut ok, mut errors, mut seq, mut acknowledged) = (0u64, 0u64, 0u64, 0u64);
            let key = &keys[conn_index % keys.len()];
            let mut conn = Connection::open(addr).await?;
            loop {
                let elapsed = start.elapsed();
                if elapsed >= warmup + measured {
                    break;
                }
                seq += 1;
                let sent = Instant::now();
                let status = conn.send(scenario.request(key, run, conn_index, seq)).await;
                if matches!(status, Ok(200 | 201)) {
                    acknowledged += 1;
                }
                if elapsed < warmup {
                    continue;
                }
                match status {
                    Ok(200 | 201) => {
                        ok += 1;
                        hist.saturating_record(sent.elapsed().as_micros() as u64);
                    }
                    Ok(_) => errors += 1,
                    Err(_) => {
                        errors += 1;
                        conn = Connection::open(addr).await?;
                    }
                }
            }
            Ok::<_, String>((ok, errors, acknowledged, hist))
        }));
    }
    let mut stats = Stats {
        scenario,
        ok: 0,
        errors: 0,
        acknowledged: 0,
        seconds: measured.as_secs_f64(),
        latency_us: Histogram::new_with_bounds(1, 60_000_000, 3).map_err(|e| e.to_string())?,
    };
    for task in tasks {
        let (ok, errors, acknowledged, hist) = task.await.map_err(|e| e.to_string())??;
        stats.ok += ok;
        stats.acknowledged += acknowledged;
        stats.errors += errors;
        stats.latency_us.add(hist).map_err(|e| e.to_string())?;
    }
    Ok(stats)
}

async fn count_reports(url: &str) -> Result<i64, String> {
    let db = Db::connect(&DbOptions::new(url)).await.map_err(|e| e.to_string())?;
    let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM usage_events WHERE event_id LIKE 'lg-%'")
        .fetch_one(&db.pool)
        .await
        .map_err(|e| e.to_string())?;
    let (sum,): (i64,) = sqlx::query_as("SELECT CAST(COALESCE(SUM(event_count), 0) AS BIGINT) FROM usage_counters")
        .fetch_one(&db.pool)
        .await
        .map_err(|e| e.to_string())?;
    db.pool.close().await;
    if sum != n {
        return Err(format!("counters say {sum} events, the events table has {n}"));
    }
    Ok(n)
}

/// One server under test: its binary, database, agents and process.
struct Target {
    label: &'static str,
    db: BenchDb,
    keys: Arc<Vec<String>>,
    budget_keys: Arc<Vec<String>>,
    addr: SocketAddr,
    server: Child,
}

async fn start_target(args: &Args, binary: &std::path::Path, label: &'static str) -> Result<Target, String> {
    let db = create_db(args, label).await?;
    // Overrides and budget tenants only when a scenario drives them.
    let scenarios: Vec<Scenario> = args.scenarios.split(',').filter_map(|s| Scenario::parse(s).ok()).collect();
    let users = scenarios.iter().any(|s| s.has_users());
    let keys = Arc::new(create_agents(&db.url, args.tenants, false, users).await?);
    let wanted = scenarios.iter().any(|s| s.has_budget());
    let budget_keys =
        Arc::new(if wanted { create_agents(&db.url, args.tenants, true, false).await? } else { Vec::new() });
    let addr = free_port()?;
    let server = start_server(args, binary, &db.url, addr)?;
    wait_until_up(addr).await?;
    Ok(Target { label, db, keys, budget_keys, addr, server })
}

impl Target {
    /// SIGKILLs the server, then checks that every acknowledged report is in its database.
    async fn kill_and_count(mut self, acknowledged: Option<u64>) -> Result<(), String> {
        let _ = self.server.kill();
        let _ = self.server.wait();
        if let Some(acknowledged) = acknowledged {
            let stored = count_reports(&self.db.url).await?;
            println!(
                "{}: report: {acknowledged} acknowledged, {stored} in the database after SIGKILL, counters agree",
                self.label
            );
            if stored < acknowledged as i64 {
                return Err(format!("{}: acknowledged reports are missing after the kill", self.label));
            }
        }
        self.db.remove().await;
        Ok(())
    }
}

fn print_table(results: &[Stats]) {
    println!("| scenario | requests/s | p50 ms | p99 ms | p99.9 ms | max ms | errors |");
    println!("| --- | ---: | ---: | ---: | ---: | ---: | ---: |");
    for s in results {
        println!(
            "| {} | {:.0} | {:.2} | {:.2} | {:.2} | {:.2} | {} |",
            s.scenario.name(),
            s.rate(),
            s.ms(0.5),
            s.ms(0.99),
            s.ms(0.999),
            s.latency_us.max() as f64 / 1000.0,
            s.errors
        );
    }
    let noop = results.iter().find(|s| s.scenario == Scenario::Noop).map(Stats::rate);
    for s in results.iter().filter(|s| s.scenario != Scenario::Noop) {
        if let Some(base) = noop {
            println!("{}: {:.0} % of the no-op baseline", s.scenario.name(), 100.0 * s.rate() / base);
        }
    }
    // What a budget costs: the same call on tenants with and without one, in the same run.
    let rate = |scenario| results.iter().find(|s| s.scenario == scenario).map(Stats::rate);
    for (tokens_only, with_budget) in
        [(Scenario::CheckReserve, Scenario::BudgetCheck), (Scenario::Report, Scenario::BudgetReport)]
    {
        if let (Some(base), Some(budget)) = (rate(tokens_only), rate(with_budget)) {
            println!(
                "cost of budgets on {}: {:+.1} % throughput ({:.0} → {:.0} req/s)",
                tokens_only.name(),
                100.0 * (budget / base - 1.0),
                base,
                budget
            );
        }
    }
}

/// Adds one more measured run of the same scenario.
fn merge(into: &mut Option<Stats>, more: Stats) -> Result<(), String> {
    match into {
        None => *into = Some(more),
        Some(s) => {
            s.ok += more.ok;
            s.errors += more.errors;
            s.acknowledged += more.acknowledged;
            s.seconds += more.seconds;
            s.latency_us.add(more.latency_us).map_err(|e| e.to_string())?;
        }
    }
    Ok(())
}

async fn run(args: Args) -> Result<(), String> {
    let scenarios = args.scenarios.split(',').map(Scenario::parse).collect::<Result<Vec<_>, _>>()?;
    let mut targets = Vec::new();
    if let Some(baseline) = &args.baseline {
        targets.push(start_target(&args, baseline, "before").await?);
    }
    targets.push(start_target(&args, &args.server, if args.baseline.is_some() { "after" } else { "server" }).await?);
    let rounds = args.rounds.max(1);
    println!(
        "tollgate loadgen: backend {}, sqlite synchronous {}, {} connections, {} s per scenario and round, {} round(s), {} tenants, {} client thread(s), {} cores",
        args.backend,
        args.sqlite_synchronous,
        args.connections,
        args.seconds,
        rounds,
        args.tenants,
        args.client_threads,
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
    );
    // merged[target][scenario]: each scenario's runs summed over the rounds.
    let mut merged: Vec<Vec<Option<Stats>>> =
        targets.iter().map(|_| scenarios.iter().map(|_| None).collect()).collect();
    for round in 0..rounds {
        let mut order: Vec<usize> = (0..scenarios.len()).collect();
        if round % 2 == 1 {
            order.reverse();
        }
        for si in order {
            let scenario = scenarios[si];
            // Alternate who goes first, so neither always runs on a warmer machine.
            let mut servers: Vec<usize> = (0..targets.len()).collect();
            if round % 2 == 1 {
                servers.reverse();
            }
            for i in servers {
                let t = &targets[i];
                let keys = if scenario.has_budget() { &t.budget_keys } else { &t.keys };
                merge(&mut merged[i][si], drive(t.addr, keys.clone(), scenario, &args).await?)?;
            }
        }
    }
    let results: Vec<Vec<Stats>> = merged.into_iter().map(|per| per.into_iter().flatten().collect()).collect();
    for (t, r) in targets.iter().zip(&results) {
        println!();
        println!("{} ({}):", t.label, if t.label == "before" { "--baseline" } else { "--server" });
        print_table(r);
    }
    if let [before, after] = &results[..] {
        println!();
        println!("| scenario | before req/s | after req/s | change | before p99 ms | after p99 ms |");
        println!("| --- | ---: | ---: | ---: | ---: | ---: |");
        for (b, a) in before.iter().zip(after) {
            println!(
                "| {} | {:.0} | {:.0} | {:+.1} % | {:.2} | {:.2} |",
                a.scenario.name(),
                b.rate(),
                a.rate(),
                100.0 * (a.rate() / b.rate() - 1.0),
                b.ms(0.99),
                a.ms(0.99)
            );
        }
    }
    // Kill the servers without warning: whatever they acknowledged must be in their databases.
    for (t, r) in targets.into_iter().zip(&results) {
        let reports: Vec<u64> = r.iter().filter(|s| s.scenario.reports()).map(|s| s.acknowledged).collect();
        let acknowledged = (!reports.is_empty()).then(|| reports.iter().sum());
        t.kill_and_count(acknowledged).await?;
    }
    Ok(())
}
