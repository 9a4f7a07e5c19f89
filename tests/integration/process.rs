//! Running the real `tollgate` binary as a separate process.

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tollgate::db::{Db, DbOptions};
use tollgate::limits::TokenLimit;
use tollgate::tenants::store::NewTenant;
use tollgate::tenants::TenantId;

pub struct ServerProcess {
    pub child: Child,
    pub base: String,
    /// From spawn to the first healthy answer.
    pub startup: Duration,
}

impl ServerProcess {
    /// Starts `tollgate serve` on a free port against `database_url` and waits until it answers.
    pub async fn start(database_url: &str) -> Self {
        let addr: SocketAddr =
            std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("free port");
        let started = Instant::now();
        let child = Command::new(env!("CARGO_BIN_EXE_tollgate"))
            .args(["serve", "--addr", &addr.to_string()])
            .env("DATABASE_URL", database_url)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .spawn()
            .expect("start tollgate");
        let base = format!("http://{addr}");
        let client = reqwest::Client::new();
        loop {
            if client.get(format!("{base}/healthz")).send().await.is_ok_and(|r| r.status() == 200) {
                break;
            }
            assert!(started.elapsed() < Duration::from_secs(30), "the server did not come up");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        Self { child, base, startup: started.elapsed() }
    }

    /// SIGKILL: no shutdown, no flushing.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Creates a tenant with an agent directly in the database; returns the key.
pub async fn tenant_with_agent(database_url: &str, id: &str, token_limit: Option<u64>) -> String {
    let db = Db::connect(&DbOptions::new(database_url)).await.expect("db");
    let tenant = NewTenant {
        id: TenantId::parse(id).expect("id"),
        display_name: id.to_owned(),
        token_limit: token_limit.map(|l| TokenLimit::new(l).expect("limit")),
    };
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64);
    let key =
        tollgate::agents::store::deploy(&db, tenant, "proc-agent".into(), "test", now).await.expect("deploy").api_key;
    db.pool.close().await;
    key
}
