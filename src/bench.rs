//! Helpers of the benchmark binaries (`loadgen`, `scalebench`, `proxybench`; feature
//! `bench`): a throw-away database per run, the bits of starting a real server, and a lean
//! keep-alive HTTP/1.1 client connection.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Method, Request};
use hyper_util::rt::TokioIo;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// A database for one run (an SQLite file in a temporary directory, or a new PostgreSQL
/// database), removed by [`BenchDb::remove`].
pub struct BenchDb {
    pub url: String,
    cleanup: Option<(String, String)>,
    dir: PathBuf,
}

impl BenchDb {
    /// `backend` is `sqlite` or `postgres` (created from `postgres_url`'s server).
    pub async fn create(backend: &str, postgres_url: &str, label: &str) -> Result<Self, String> {
        let dir = std::env::temp_dir().join(format!("tollgate-bench-{}-{label}", std::process::id()));
        std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
        if backend == "postgres" {
            use sqlx::{Connection, Executor};
            sqlx::any::install_default_drivers();
            let name = format!("tollgate_bench_{}_{label}", std::process::id());
            let mut admin = sqlx::AnyConnection::connect(postgres_url).await.map_err(|e| e.to_string())?;
            admin.execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}"))).await.map_err(|e| e.to_string())?;
            let base = postgres_url.rsplit_once('/').map_or(postgres_url, |(b, _)| b);
            Ok(Self { url: format!("{base}/{name}"), cleanup: Some((postgres_url.to_owned(), name)), dir })
        } else {
            Ok(Self { url: format!("sqlite://{}/bench.db", dir.display()), cleanup: None, dir })
        }
    }

    pub async fn remove(self) {
        if let Some((admin_url, name)) = self.cleanup {
            use sqlx::{Connection, Executor};
            if let Ok(mut admin) = sqlx::AnyConnection::connect(&admin_url).await {
                let _ =
                    admin.execute(sqlx::AssertSqlSafe(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))).await;
            }
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

pub fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

/// A loopback port nothing listens on now.
pub fn free_port() -> Result<SocketAddr, String> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    listener.local_addr().map_err(|e| e.to_string())
}

/// Waits until `/healthz` answers on `addr` (at most 30 s).
pub async fn wait_until_up(addr: SocketAddr) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if let Ok(mut conn) = Connection::open(addr).await {
            if conn.send(get("/healthz")).await.is_ok() {
                return Ok(());
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Err("the server did not come up within 30 s".into())
}

/// One keep-alive HTTP/1.1 connection.
pub struct Connection {
    sender: hyper::client::conn::http1::SendRequest<Full<Bytes>>,
}

impl Connection {
    pub async fn open(addr: SocketAddr) -> Result<Self, String> {
        let stream = tokio::net::TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
        stream.set_nodelay(true).map_err(|e| e.to_string())?;
        let (sender, conn) =
            hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.map_err(|e| e.to_string())?;
        tokio::spawn(conn);
        Ok(Self { sender })
    }

    /// Sends a request and reads the whole response; returns its status.
    pub async fn send(&mut self, request: Request<Full<Bytes>>) -> Result<u16, String> {
        self.sender.ready().await.map_err(|e| e.to_string())?;
        let response = self.sender.send_request(request).await.map_err(|e| e.to_string())?;
        let status = response.status().as_u16();
        response.into_body().collect().await.map_err(|e| e.to_string())?;
        Ok(status)
    }
}

pub fn get(path: &str) -> Request<Full<Bytes>> {
    Request::builder()
        .method(Method::GET)
        .uri(path)
        .header("host", "127.0.0.1")
        .body(Full::new(Bytes::new()))
        .unwrap_or_default()
}

pub fn post(path: &str, key: &str, body: String) -> Request<Full<Bytes>> {
    Request::builder()
        .method(Method::POST)
        .uri(path)
        .header("host", "127.0.0.1")
        .header("authorization", format!("Bearer {key}"))
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body)))
        .unwrap_or_default()
}

/// Creates tenant `id` with a token limit (and, with `budget`, a USD budget) no run reaches,
/// and one agent; answers its key.
pub async fn bench_tenant(
    db: &crate::db::Db,
    id: &crate::tenants::TenantId,
    actor: &str,
    budget: bool,
) -> Result<String, String> {
    use crate::budgets::{BudgetConfig, BudgetDuration};
    let tenant = crate::tenants::store::NewTenant {
        id: id.clone(),
        display_name: format!("Bench {id}"),
        token_limit: Some(crate::limits::TokenLimit::new(1 << 50).map_err(|e| e.to_string())?),
    };
    let agent =
        crate::agents::store::deploy(db, tenant, actor.into(), actor, now_ms()).await.map_err(|e| e.to_string())?;
    if budget {
        let config = BudgetConfig {
            max_budget_micros: 1_000_000_000 * 1_000_000,
            alert_threshold_pct: 80,
            grace_threshold_pct: 110,
            budget_duration: BudgetDuration::Days30,
        };
        let mut conn = db.pool.acquire().await.map_err(|e| e.to_string())?;
        crate::tenants::store::set_budget(&mut conn, id, Some(&config), actor, now_ms())
            .await
            .map_err(|e| e.to_string())?;
    }
    Ok(agent.api_key)
}
