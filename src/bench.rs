//! Helpers of the benchmark binaries (`loadgen`, `scalebench`; feature `bench`): a throw-away
//! database per run and the bits of starting a real server.

use std::net::SocketAddr;
use std::path::PathBuf;

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
