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
//! With `--long-prompts` it measures instead what a huge prompt costs: the estimate of a 32 MB
//! single-word chat body (the pure function the proxy runs), and `/healthz`'s latency while 8
//! such requests are in flight through the proxy, again and again.
//!
//! With `--pricing` it measures what pricing costs per call: a check's estimate and a
//! settlement's cost, priced from the bundled genai-prices database (known and unknown models).
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
use tollgate::bench::{bench_tenant, free_port, post, wait_until_up, BenchDb, Connection};
use tollgate::db::{Db, DbOptions};
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
    /// Measure huge prompts instead: their estimate, and `/healthz` while 8 are in flight.
    #[arg(long)]
    long_prompts: bool,
    /// Measure pricing instead: an estimate and a cost from the price database, per call.
    #[arg(long)]
    pricing: bool,
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
    if args.pricing {
        pricing();
        return Ok(());
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.client_threads.max(1))
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    runtime.block_on(run(args))
}

/// Time per call of the two pricing steps every proxied call takes, over 20,000 calls each.
fn pricing() {
    use tollgate::usage::price_db::Prices;
    use tollgate::usage::pricing::PriceBook;
    use tollgate::usage::tokens::TokenUsage;
    let prices = Prices::default();
    let now = 1_768_435_200_000; // 2026-01-15
    println!("| model | provider | estimate per call | cost per call |\n| --- | --- | --- | --- |");
    for (model, provider) in
        [("gpt-4o", Some("openai")), ("gpt-4o", None), ("claude-sonnet-4-5", Some("anthropic")), ("in-house-llm", None)]
    {
        let calls: u32 = 20_000;
        let mut sink = 0u64;
        let started = Instant::now();
        for i in 0..calls {
            sink = sink.wrapping_add(prices.estimate_micros(model, provider, 1_000 + u64::from(i), now));
        }
        let estimate = started.elapsed() / calls;
        let started = Instant::now();
        for i in 0..calls {
            let usage = TokenUsage { cache_read_tokens: 100, ..TokenUsage::plain(1_000 + i64::from(i), 200) };
            sink = sink.wrapping_add(prices.cost_micros(model, provider, &usage, now).0 as u64);
        }
        let cost = started.elapsed() / calls;
        println!("| {model} | {} | {estimate:.1?} | {cost:.1?} |", provider.unwrap_or("(any)"));
        std::hint::black_box(sink);
    }
}

async fn start_standin() -> Result<SocketAddr, String> {
    // The body is read (huge prompts too), as an upstream would.
    let app = axum::Router::new()
        .route(
            "/v1/chat/completions",
            axum::routing::post(|_: axum::body::Bytes| async { ([("content-type", "application/json")], ANSWER) }),
        )
        .layer(axum::extract::DefaultBodyLimit::max(64 << 20));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.map_err(|e| e.to_string())?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
        let _ = tcp.set_nodelay(true);
    });
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(addr)
}

/// A tenant with a limit and a budget no run reaches, and its agent's key.
async fn create_agent(url: &str) -> Result<String, String> {
    let db = Db::connect(&DbOptions::new(url)).await.map_err(|e| e.to_string())?;
    let id = TenantId::parse("proxy-bench").map_err(|e| e.to_string())?;
    let key = bench_tenant(&db, &id, "proxybench", true).await?;
    db.pool.close().await;
    Ok(key)
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

/// One keep-alive connection to a target and what it measured.
struct Worker {
    target: Target,
    conn: Connection,
    hist: Histogram<u64>,
    ok: u64,
    errors: u64,
}

impl Worker {
    async fn open(target: Target) -> Result<Self, String> {
        let conn = Connection::open(target.addr).await?;
        Ok(Self { target, conn, hist: histogram()?, ok: 0, errors: 0 })
    }

    /// One request; when `measured`, its latency counts from `since` (its scheduled instant,
    /// or when it was sent).
    async fn call(&mut self, since: Instant, measured: bool) -> Result<(), String> {
        let t = &self.target;
        match self.conn.send(post(t.path, &t.key, t.body.clone())).await {
            Ok(200) if measured => {
                self.ok += 1;
                self.hist.saturating_record(since.elapsed().as_micros() as u64);
            }
            Ok(200) => {}
            Ok(_) => self.errors += 1,
            Err(_) => {
                self.errors += 1;
                self.conn = Connection::open(t.addr).await?;
            }
        }
        Ok(())
    }
}

/// The workers' figures, summed.
async fn collect(
    target: &Target,
    rate: Option<u64>,
    seconds: u64,
    workers: Vec<tokio::task::JoinHandle<Result<Worker, String>>>,
) -> Result<Measured, String> {
    let mut m =
        Measured { target: target.name, rate, ok: 0, errors: 0, seconds: seconds as f64, latency_us: histogram()? };
    for w in workers {
        let w = w.await.map_err(|e| e.to_string())??;
        m.latency_us.add(w.hist).map_err(|e| e.to_string())?;
        (m.ok, m.errors) = (m.ok + w.ok, m.errors + w.errors);
    }
    Ok(m)
}

/// Sends `rate` requests a second for the warm-up and `seconds`, each at its scheduled instant
/// on the first free connection of the pool; latency counts from the scheduled instant.
async fn fixed_rate(target: &Target, rate: u64, args: &Args) -> Result<Measured, String> {
    let interval = Duration::from_nanos(1_000_000_000 / rate.max(1));
    let warmup = Duration::from_secs(1);
    let total = ((warmup + Duration::from_secs(args.seconds)).as_nanos() / interval.as_nanos()) as u64;
    let (tx, rx) = tokio::sync::mpsc::channel::<Instant>(args.connections * 4);
    // The pool's shared queue: an idle worker holds the lock while it waits for the next
    // instant, so each instant goes to exactly one free connection.
    let rx = Arc::new(tokio::sync::Mutex::new(rx));
    let start = Instant::now() + Duration::from_millis(50);
    let mut workers = Vec::new();
    for _ in 0..args.connections {
        let (rx, target) = (rx.clone(), target.clone());
        workers.push(tokio::spawn(async move {
            let mut worker = Worker::open(target).await?;
            loop {
                let scheduled = { rx.lock().await.recv().await };
                let Some(scheduled) = scheduled else { break };
                worker.call(scheduled, scheduled >= start + warmup).await?;
            }
            Ok(worker)
        }));
    }
    let pacer = pace(tx, start, interval, total);
    let measured = collect(target, Some(rate), args.seconds, workers).await;
    let _ = tokio::task::spawn_blocking(move || pacer.join()).await;
    measured
}

/// Releases the scheduled instants from an OS thread of its own. Tokio's timer ticks in whole
/// milliseconds: paced by it, 5,000 req/s leave in bursts of five at each tick and every
/// request starts up to a millisecond after its instant, which both targets are then charged.
/// A thread's sleep ends within the kernel's timer slack (~50 µs) of the instant.
fn pace(
    tx: tokio::sync::mpsc::Sender<Instant>,
    start: Instant,
    interval: Duration,
    total: u64,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        for i in 0..total {
            let at = start + interval.saturating_mul(u32::try_from(i).unwrap_or(u32::MAX));
            if let Some(wait) = at.checked_duration_since(Instant::now()) {
                std::thread::sleep(wait);
            }
            if tx.blocking_send(at).is_err() {
                break;
            }
        }
    })
}

/// `connections` connections back to back for `seconds` (after one second of warm-up).
async fn throughput(target: &Target, args: &Args) -> Result<Measured, String> {
    let warmup = Duration::from_secs(1);
    let measured = Duration::from_secs(args.seconds);
    let start = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..args.connections {
        let target = target.clone();
        workers.push(tokio::spawn(async move {
            let mut worker = Worker::open(target).await?;
            while start.elapsed() < warmup + measured {
                let in_warmup = start.elapsed() < warmup;
                worker.call(Instant::now(), !in_warmup).await?;
            }
            Ok(worker)
        }));
    }
    collect(target, None, args.seconds, workers).await
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
    if args.long_prompts {
        let measured = long_prompts(addr, &key, &args).await;
        let _ = server.kill();
        let _ = server.wait();
        db.remove().await;
        let _ = std::fs::remove_dir_all(&dir);
        return measured;
    }
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

/// The bytes of the "word" in a huge prompt: the body stays under the proxy's 32 MiB limit.
const HUGE_WORD_BYTES: usize = 32_000_000;

/// A chat request whose one message is a single 32 MB word (the worst case of BPE merging).
fn huge_prompt(model: &str) -> String {
    let word = "ab".repeat(HUGE_WORD_BYTES / 2);
    format!(r#"{{"model":"{model}","messages":[{{"role":"user","content":"{word}"}}],"max_tokens":16}}"#)
}

/// The estimate of a huge prompt in this process, then `/healthz` paced at 200 requests/s
/// while 8 connections send huge prompts through the proxy back to back.
async fn long_prompts(addr: SocketAddr, key: &str, args: &Args) -> Result<(), String> {
    use tollgate::proxy::estimate::{estimate, Endpoint};
    let body = huge_prompt(&args.model);
    let parsed: serde_json::Value = serde_json::from_str(&body).map_err(|e| e.to_string())?;
    let started = Instant::now();
    let e = estimate(Endpoint::ChatCompletions, &args.model, &parsed, 4096);
    let estimate_secs = started.elapsed().as_secs_f64();
    println!(
        "tollgate proxybench --long-prompts: model {}, backend {}, {} cores",
        args.model,
        args.backend,
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    println!(
        "\nestimate of a {} MB single-word body: {:.3} s ({} input tokens counted)",
        body.len() / 1_000_000,
        estimate_secs,
        e.input_tokens
    );
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut senders = Vec::new();
    for _ in 0..8 {
        let (stop, body, key) = (stop.clone(), body.clone(), key.to_owned());
        senders.push(tokio::spawn(async move {
            let mut conn = Connection::open(addr).await?;
            let (mut hist, mut statuses) = (histogram()?, std::collections::BTreeMap::<u16, u64>::new());
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let sent = Instant::now();
                match conn.send(post("/v1/chat/completions", &key, body.clone())).await {
                    Ok(status) => *statuses.entry(status).or_default() += 1,
                    Err(_) => conn = Connection::open(addr).await?,
                }
                hist.saturating_record(sent.elapsed().as_micros() as u64);
            }
            Ok::<_, String>((hist, statuses))
        }));
    }
    // Let the first huge requests arrive before measuring.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let mut health = Connection::open(addr).await?;
    let mut hist = histogram()?;
    let interval = Duration::from_millis(5);
    let start = Instant::now();
    let mut next = start;
    while start.elapsed() < Duration::from_secs(args.seconds) {
        next += interval;
        if let Some(wait) = next.checked_duration_since(Instant::now()) {
            tokio::time::sleep(wait).await;
        }
        health.send(tollgate::bench::get("/healthz")).await?;
        // From its scheduled instant: a stalled server is charged its whole stall.
        hist.saturating_record(next.elapsed().as_micros() as u64);
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let (mut long, mut statuses) = (histogram()?, std::collections::BTreeMap::<u16, u64>::new());
    for sender in senders {
        let (h, s) = sender.await.map_err(|e| e.to_string())??;
        long.add(h).map_err(|e| e.to_string())?;
        for (status, n) in s {
            *statuses.entry(status).or_default() += n;
        }
    }
    let ms = |h: &Histogram<u64>, q: f64| h.value_at_quantile(q) as f64 / 1000.0;
    println!("\n| while 8 huge prompts are in flight | p50 ms | p99 ms | max ms | count |");
    println!("| --- | ---: | ---: | ---: | ---: |");
    println!(
        "| `/healthz` (200/s, from its scheduled instant) | {:.3} | {:.3} | {:.3} | {} |",
        ms(&hist, 0.5),
        ms(&hist, 0.99),
        hist.max() as f64 / 1000.0,
        hist.len()
    );
    println!(
        "| a huge prompt through the proxy (statuses {statuses:?}) | {:.0} | {:.0} | {:.0} | {} |",
        ms(&long, 0.5),
        ms(&long, 0.99),
        long.max() as f64 / 1000.0,
        long.len()
    );
    Ok(())
}
