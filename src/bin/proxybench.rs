//! The proxy's cost, measured: a stand-in OpenAI upstream in this process answers a fixed chat
//! completion (with `usage`); the same requests go to it **directly** and **through
//! Tollgate's `/v1/chat/completions`** (a release server with an agent whose tenant has a
//! token limit and a budget, so every call is admitted, priced, forwarded and settled), in the
//! same run, alternating. Two measurements:
//!
//! - **added latency at a fixed rate** (`--rates`, default 1,000 and 5,000 requests/s): each
//!   request is sent at its scheduled instant and timed from that instant (so a server that
//!   falls behind is charged its queueing: no coordinated omission); the table gives p50 / p99
//!   of both and their difference;
//! - **maximum proxied throughput**: `--connections` keep-alive connections back to back.
//!
//! Everything shares one machine (client, proxy, upstream): the figures are an upper bound of
//! the proxy's cost here. Run: `make bench-proxy`.

use clap::Parser;
use hdrhistogram::Histogram;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tollgate::bench::{free_port, now_ms, post, wait_until_up, BenchDb, Connection};
use tollgate::budgets::{BudgetConfig, BudgetDuration};
use tollgate::db::{Db, DbOptions};
use tollgate::limits::TokenLimit;
use tollgate::tenants::store::NewTenant;
use tollgate::tenants::TenantId;

#[derive(Debug, Parser)]
#[command(about = "Measures the OpenAI-compatible proxy against its upstream called directly")]
struct Args {
    /// The server binary (build it with `cargo leptos build --release`).
    #[arg(long, default_value = "target/release/tollgate")]
    server: PathBuf,
    /// Fixed request rates to measure the added latency at (requests/s).
    #[arg(long, default_value = "1000,5000", value_delimiter = ',')]
    rates: Vec<u64>,
    /// Measured seconds per rate and target (after one second of warm-up).
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Keep-alive connections of the throughput run (and the pool of the fixed-rate runs).
    #[arg(long, default_value_t = 64)]
    connections: usize,
    /// `sqlite` or `postgres`.
    #[arg(long, default_value = "sqlite")]
    backend: String,
    #[arg(long, default_value = "postgres://postgres@127.0.0.1:5432/test")]
    postgres_url: String,
    /// Client threads (the stand-in upstream runs on the same runtime).
    #[arg(long, default_value_t = 2)]
    client_threads: usize,
    /// The request's model: an OpenAI model is counted with its tokenizer, others by the
    /// 4-characters heuristic (compare the two to see the tokenizer's cost).
    #[arg(long, default_value = "gpt-4o-mini")]
    model: String,
}

/// The request both targets get: a short chat with a small output cap.
fn request(model: &str) -> String {
    format!(
        r#"{{"model":"{model}","messages":[{{"role":"user","content":"Say hello in five words."}}],"max_tokens":32}}"#
    )
}

/// The stand-in's answer, as an upstream would send it.
const ANSWER: &str = r#"{"id":"chatcmpl-bench","object":"chat.completion","created":1700000000,"model":"gpt-4o-mini","choices":[{"index":0,"message":{"role":"assistant","content":"Hello there, how are you?"},"finish_reason":"stop"}],"usage":{"prompt_tokens":14,"completion_tokens":7,"total_tokens":21}}"#;

fn main() -> Result<(), String> {
    let args = Args::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.client_threads.max(1))
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    runtime.block_on(run(args))
}

async fn start_standin() -> Result<SocketAddr, String> {
    let app = axum::Router::new().route(
        "/v1/chat/completions",
        axum::routing::post(|| async { ([("content-type", "application/json")], ANSWER) }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.map_err(|e| e.to_string())?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(addr)
}

/// A tenant with a limit and a budget no run reaches, and its agent's key.
async fn create_agent(url: &str) -> Result<String, String> {
    let db = Db::connect(&DbOptions::new(url)).await.map_err(|e| e.to_string())?;
    let id = TenantId::parse("proxy-bench").map_err(|e| e.to_string())?;
    let tenant = NewTenant {
        id: id.clone(),
        display_name: "Proxy bench".into(),
        token_limit: Some(TokenLimit::new(1 << 50).map_err(|e| e.to_string())?),
    };
    let agent = tollgate::agents::store::deploy(&db, tenant, "proxybench".into(), "proxybench", now_ms())
        .await
        .map_err(|e| e.to_string())?;
    let budget = BudgetConfig {
        max_budget_micros: 1_000_000_000 * 1_000_000,
        alert_threshold_pct: 80,
        grace_threshold_pct: 110,
        budget_duration: BudgetDuration::Days30,
    };
    let mut conn = db.pool.acquire().await.map_err(|e| e.to_string())?;
    tollgate::tenants::store::set_budget(&mut conn, &id, Some(&budget), "proxybench", now_ms())
        .await
        .map_err(|e| e.to_string())?;
    drop(conn);
    db.pool.close().await;
    Ok(agent.api_key)
}

/// Where requests go: the stand-in itself, or the proxy in front of it.
#[derive(Clone)]
struct Target {
    name: &'static str,
    addr: SocketAddr,
    path: &'static str,
    key: String,
    body: String,
}

struct Measured {
    target: &'static str,
    rate: Option<u64>,
    ok: u64,
    errors: u64,
    seconds: f64,
    latency_us: Histogram<u64>,
}

impl Measured {
    fn ms(&self, q: f64) -> f64 {
        self.latency_us.value_at_quantile(q) as f64 / 1000.0
    }
}

fn histogram() -> Result<Histogram<u64>, String> {
    Histogram::new_with_bounds(1, 60_000_000, 3).map_err(|e| e.to_string())
}

/// Sends `rate` requests a second for the warm-up and `seconds`, each at its scheduled instant
/// on the first free connection of the pool; latency counts from the scheduled instant.
async fn fixed_rate(target: &Target, rate: u64, args: &Args) -> Result<Measured, String> {
    let interval = Duration::from_nanos(1_000_000_000 / rate.max(1));
    let warmup = Duration::from_secs(1);
    let total = ((warmup + Duration::from_secs(args.seconds)).as_nanos() / interval.as_nanos()) as u64;
    let (tx, rx) = tokio::sync::mpsc::channel::<Instant>(args.connections * 4);
    let rx = Arc::new(tokio::sync::Mutex::new(rx));
    let start = Instant::now() + Duration::from_millis(50);
    let mut workers = Vec::new();
    for _ in 0..args.connections {
        let (rx, target) = (rx.clone(), target.clone());
        workers.push(tokio::spawn(async move {
            let mut conn = Connection::open(target.addr).await?;
            let (mut hist, mut ok, mut errors) = (histogram()?, 0u64, 0u64);
            loop {
                let scheduled = { rx.lock().await.recv().await };
                let Some(scheduled) = scheduled else { break };
                let status = conn.send(post(target.path, &target.key, target.body.clone())).await;
                let measured = scheduled >= start + warmup;
                match status {
                    Ok(200) if measured => {
                        ok += 1;
                        hist.saturating_record(scheduled.elapsed().as_micros() as u64);
                    }
                    Ok(200) => {}
                    Ok(_) => errors += 1,
                    Err(_) => {
                        errors += 1;
                        conn = Connection::open(target.addr).await?;
                    }
                }
            }
            Ok::<_, String>((hist, ok, errors))
        }));
    }
    for i in 0..total {
        let at = start + interval * i as u32;
        tokio::time::sleep_until(at.into()).await;
        if tx.send(at).await.is_err() {
            break;
        }
    }
    drop(tx);
    let mut m = Measured {
        target: target.name,
        rate: Some(rate),
        ok: 0,
        errors: 0,
        seconds: args.seconds as f64,
        latency_us: histogram()?,
    };
    for w in workers {
        let (hist, ok, errors) = w.await.map_err(|e| e.to_string())??;
        m.latency_us.add(hist).map_err(|e| e.to_string())?;
        (m.ok, m.errors) = (m.ok + ok, m.errors + errors);
    }
    Ok(m)
}

/// `connections` connections back to back for `seconds` (after one second of warm-up).
async fn throughput(target: &Target, args: &Args) -> Result<Measured, String> {
    let warmup = Duration::from_secs(1);
    let measured = Duration::from_secs(args.seconds);
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..args.connections {
        let target = target.clone();
        tasks.push(tokio::spawn(async move {
            let mut conn = Connection::open(target.addr).await?;
            let (mut hist, mut ok, mut errors) = (histogram()?, 0u64, 0u64);
            while start.elapsed() < warmup + measured {
                let in_warmup = start.elapsed() < warmup;
                let sent = Instant::now();
                match conn.send(post(target.path, &target.key, target.body.clone())).await {
                    Ok(200) if !in_warmup => {
                        ok += 1;
                        hist.saturating_record(sent.elapsed().as_micros() as u64);
                    }
                    Ok(200) => {}
                    Ok(_) => errors += 1,
                    Err(_) => {
                        errors += 1;
                        conn = Connection::open(target.addr).await?;
                    }
                }
            }
            Ok::<_, String>((hist, ok, errors))
        }));
    }
    let mut m = Measured {
        target: target.name,
        rate: None,
        ok: 0,
        errors: 0,
        seconds: measured.as_secs_f64(),
        latency_us: histogram()?,
    };
    for t in tasks {
        let (hist, ok, errors) = t.await.map_err(|e| e.to_string())??;
        m.latency_us.add(hist).map_err(|e| e.to_string())?;
        (m.ok, m.errors) = (m.ok + ok, m.errors + errors);
    }
    Ok(m)
}

async fn run(args: Args) -> Result<(), String> {
    let standin = start_standin().await?;
    let db = BenchDb::create(&args.backend, &args.postgres_url, "proxy").await?;
    let key = create_agent(&db.url).await?;
    let dir = std::env::temp_dir().join(format!("tollgate-proxybench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let upstreams = dir.join("upstreams.toml");
    std::fs::write(
        &upstreams,
        format!("[[upstreams]]\nname = \"standin\"\nbase_url = \"http://{standin}/v1\"\napi_key = \"sk-bench\"\nmodels = [\"*\"]\n"),
    )
    .map_err(|e| e.to_string())?;
    let addr = free_port()?;
    let mut server = Command::new(&args.server)
        .args(["serve", "--addr", &addr.to_string(), "--upstreams-file"])
        .arg(&upstreams)
        .env("DATABASE_URL", &db.url)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start {}: {e} (build it with `make build`)", args.server.display()))?;
    wait_until_up(addr).await?;
    let body = request(&args.model);
    let direct = Target {
        name: "direct",
        addr: standin,
        path: "/v1/chat/completions",
        key: "sk-bench".into(),
        body: body.clone(),
    };
    let proxied = Target { name: "proxied", addr, path: "/v1/chat/completions", key, body };
    println!(
        "tollgate proxybench: model {}, backend {}, {} s per measurement, pool of {} connections, {} client threads, {} cores",
        args.model,
        args.backend,
        args.seconds,
        args.connections,
        args.client_threads,
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    let mut rows = Vec::new();
    for (i, &rate) in args.rates.iter().enumerate() {
        // Alternate which goes first, so neither always runs on a warmer machine.
        let order = if i % 2 == 0 { [&direct, &proxied] } else { [&proxied, &direct] };
        let mut pair = Vec::new();
        for target in order {
            pair.push(fixed_rate(target, rate, &args).await?);
        }
        pair.sort_by_key(|m| m.target != "direct");
        rows.push(pair);
    }
    let peak = [throughput(&direct, &args).await?, throughput(&proxied, &args).await?];
    let _ = server.kill();
    let _ = server.wait();
    db.remove().await;
    let _ = std::fs::remove_dir_all(&dir);

    println!("\n| rate (req/s) | direct p50 / p99 ms | proxied p50 / p99 ms | added p50 / p99 ms | errors |");
    println!("| ---: | ---: | ---: | ---: | ---: |");
    for pair in &rows {
        let (d, p) = (&pair[0], &pair[1]);
        println!(
            "| {} | {:.3} / {:.3} | {:.3} / {:.3} | {:.3} / {:.3} | {} |",
            d.rate.unwrap_or(0),
            d.ms(0.5),
            d.ms(0.99),
            p.ms(0.5),
            p.ms(0.99),
            p.ms(0.5) - d.ms(0.5),
            p.ms(0.99) - d.ms(0.99),
            d.errors + p.errors
        );
    }
    println!("\n| throughput ({} connections) | requests/s | p50 ms | p99 ms | errors |", args.connections);
    println!("| --- | ---: | ---: | ---: | ---: |");
    for m in &peak {
        println!(
            "| {} | {:.0} | {:.3} | {:.3} | {} |",
            m.target,
            m.ok as f64 / m.seconds,
            m.ms(0.5),
            m.ms(0.99),
            m.errors
        );
    }
    Ok(())
}
