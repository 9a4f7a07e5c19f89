//! Database outages: calls caught in one are answered 503 with `Retry-After` (never 500),
//! `/readyz` turns red while it lasts, the server recovers by itself, and nothing
//! acknowledged is lost. PostgreSQL is cut off through a TCP proxy the test owns (killing the
//! shared server would break the other tests); SQLite is held by another connection's lock.

use crate::common::{spawn_app, spawn_app_with, AppOptions, TestApp, TestDatabase};
use serde_json::json;
use sqlx::Connection;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// A TCP forwarder to PostgreSQL that can be cut (every connection dropped, new ones refused)
/// and restored on the same port.
struct CutProxy {
    port: u16,
    target: String,
    tasks: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

impl CutProxy {
    async fn start(target: &str) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let port = listener.local_addr().expect("addr").port();
        let proxy = Self { port, target: target.to_owned(), tasks: Arc::default() };
        proxy.serve(listener);
        proxy
    }

    fn serve(&self, listener: TcpListener) {
        let (tasks, target) = (self.tasks.clone(), self.target.clone());
        let accept = tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                let Ok(mut server) = TcpStream::connect(&target).await else { continue };
                let conn = tokio::spawn(async move {
                    let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                });
                tasks.lock().expect("lock").push(conn);
            }
        });
        self.tasks.lock().expect("lock").push(accept);
    }

    /// Drops every connection and stops listening: the database is gone.
    fn cut(&self) {
        for task in self.tasks.lock().expect("lock").drain(..) {
            task.abort();
        }
    }

    /// Listens again on the same port.
    async fn restore(&self) {
        let listener = TcpListener::bind(("127.0.0.1", self.port)).await.expect("rebind proxy");
        self.serve(listener);
    }
}

/// What the load saw.
#[derive(Default)]
struct Seen {
    acknowledged: Vec<String>,
    unavailable: u64,
    other: Vec<u16>,
}

/// Reports one after another until `stop`, each with a new event id.
fn report_load(app: Arc<TestApp>, key: String, stop: Arc<AtomicBool>) -> JoinHandle<Seen> {
    tokio::spawn(async move {
        let mut seen = Seen::default();
        for i in 0u64.. {
            if stop.load(Ordering::Relaxed) {
                break;
            }
            let id = format!("load-{i}");
            let body = json!({"event_id": id, "model": "gpt-4o", "input_tokens": 10, "output_tokens": 1});
            let res = app.agent_post("/api/agent/usage/report", &key, &body.to_string()).await;
            match res.status().as_u16() {
                201 => seen.acknowledged.push(id),
                503 => {
                    assert!(res.headers().contains_key("retry-after"), "a 503 says when to retry");
                    seen.unavailable += 1;
                }
                other => seen.other.push(other),
            }
        }
        seen
    })
}

async fn readyz(app: &TestApp) -> u16 {
    app.client.get(app.url("/readyz")).send().await.map_or(0, |r| r.status().as_u16())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_cut_off_five_times_under_report_load() {
    let Some(db) = TestDatabase::postgres().await else { return };
    let target = db.url.trim_start_matches("postgres://").split('/').next().unwrap_or_default();
    let host = target.rsplit('@').next().unwrap_or(target).to_owned();
    let proxy = CutProxy::start(&host).await;
    let via = db.url.replacen(&host, &format!("127.0.0.1:{}", proxy.port), 1);
    // Calls caught in the outage wait at most a second for a connection.
    let options = AppOptions { acquire_timeout: Duration::from_secs(1), ..AppOptions::default() };
    let app = Arc::new(spawn_app_with(&db.reached_at(via), options).await);
    let key = app.tenant_with_agent("outage", Some(1 << 40)).await;
    assert_eq!(readyz(&app).await, 200);

    let stop = Arc::new(AtomicBool::new(false));
    let load = report_load(app.clone(), key.clone(), stop.clone());
    let mut red = 0;
    for _ in 0..5 {
        tokio::time::sleep(Duration::from_millis(400)).await;
        proxy.cut();
        if readyz(&app).await == 503 {
            red += 1;
        }
        let check = app.agent_post("/api/agent/usage/check", &key, "").await;
        assert!(matches!(check.status().as_u16(), 200 | 503), "a check in the outage: {}", check.status());
        tokio::time::sleep(Duration::from_millis(800)).await;
        proxy.restore().await;
    }
    // Recovers by itself: ready again, and reports are acknowledged again.
    let mut ready = false;
    for _ in 0..100 {
        if readyz(&app).await == 200 {
            ready = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(ready, "/readyz turns green once the database is back");
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.store(true, Ordering::Relaxed);
    let seen = load.await.expect("load");
    assert!(seen.other.is_empty(), "only 201 or 503, never a 500: {:?}", seen.other);
    assert!(seen.unavailable > 0, "the outage was felt");
    assert_eq!(red, 5, "/readyz was red in every outage");
    assert_eq!(app.report(&key, "after", 1, 1).await.status(), 201);

    // Nothing acknowledged was lost (read directly, not through the proxy).
    let mut conn = sqlx::AnyConnection::connect(&db.url).await.expect("direct connection");
    let stored: Vec<String> = sqlx::query_scalar("SELECT event_id FROM usage_events WHERE tenant_id = 'outage'")
        .fetch_all(&mut conn)
        .await
        .expect("events");
    let stored: std::collections::HashSet<String> = stored.into_iter().collect();
    let lost: Vec<&String> = seen.acknowledged.iter().filter(|id| !stored.contains(*id)).collect();
    assert!(lost.is_empty(), "acknowledged but not stored: {lost:?}");
    assert!(seen.acknowledged.len() > 10, "the load ran: {} acknowledged", seen.acknowledged.len());
    let metrics = app.client.get(app.url("/metrics")).send().await.expect("metrics").text().await.expect("text");
    assert!(metrics.contains("tollgate_database_unavailable_total"), "the outage is counted");
    conn.close().await.ok();
    db.cleanup().await;
}

/// SQLite held by another process's write lock past the busy timeout: the report is answered
/// 503 with Retry-After and recorded once the lock is gone.
#[tokio::test]
async fn a_locked_sqlite_file_answers_503_and_recovers() {
    let db = TestDatabase::sqlite();
    let app = spawn_app(&db).await;
    let key = app.tenant_with_agent("locked", Some(1_000)).await;
    let mut holder = sqlx::AnyConnection::connect(&db.url).await.expect("second connection");
    sqlx::raw_sql("BEGIN EXCLUSIVE").execute(&mut holder).await.expect("lock");
    let res = app.report(&key, "blocked", 10, 0).await;
    assert_eq!(res.status(), 503);
    assert_eq!(res.headers().get("retry-after").and_then(|v| v.to_str().ok()), Some("2"));
    sqlx::raw_sql("ROLLBACK").execute(&mut holder).await.expect("unlock");
    assert_eq!(app.report(&key, "blocked", 10, 0).await.status(), 201, "the retry is recorded");
    assert_eq!(app.status(&key).await["used_tokens"], 10);
}
