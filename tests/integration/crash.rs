//! Crash safety: SIGKILL the server at random moments under report load, many times. Every
//! acknowledged report must be there after restart, replays must get their original answer,
//! the counters must equal the sum of the events, and the database must be intact.
//!
//! `make test` runs a short form (5 kills); `TOLLGATE_CRASH_KILLS=50 cargo test --features ssr
//! --test integration crash` runs the full one.

use crate::process::{tenant_with_agent, ServerProcess};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tollgate::db::{Db, DbOptions};

const CLIENTS: usize = 16;

/// What a client learned about one report it sent.
enum Answer {
    /// 201: committed, with the tenant's usage as answered.
    Acknowledged { used_tokens: u64 },
    /// No answer (the server died): it may or may not have committed.
    Unknown,
}

fn report_body(id: &str, tokens: i64) -> String {
    json!({"event_id": id, "model": "gpt-4o-mini", "input_tokens": tokens, "output_tokens": 1}).to_string()
}

/// A small deterministic generator for the kill delays (no extra crate for it).
struct Lcg(u64);
impl Lcg {
    fn next(&mut self, below: u64) -> u64 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (self.0 >> 33) % below
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn acknowledged_reports_survive_repeated_sigkill() {
    let kills: u64 = std::env::var("TOLLGATE_CRASH_KILLS").ok().and_then(|v| v.parse().ok()).unwrap_or(5);
    let dir = tempfile::tempdir().expect("dir");
    let url = format!("sqlite://{}/crash.db", dir.path().display());
    let key = Arc::new(tenant_with_agent(&url, "crash", None).await);
    let mut answers: HashMap<String, (i64, Answer)> = HashMap::new();
    let mut startups = Vec::new();
    let mut rng = Lcg(0x5eed);

    for round in 0..kills {
        let mut server = ServerProcess::start(&url).await;
        startups.push(server.startup);
        let stop = Arc::new(AtomicBool::new(false));
        let mut clients = Vec::new();
        for c in 0..CLIENTS {
            let (base, key, stop) = (server.base.clone(), key.clone(), stop.clone());
            clients.push(tokio::spawn(async move {
                let http = reqwest::Client::new();
                let mut seen = Vec::new();
                for n in 0.. {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let (id, tokens) = (format!("r{round}-c{c}-{n}"), 1 + (n % 7) as i64);
                    let sent = http
                        .post(format!("{base}/api/agent/usage/report"))
                        .bearer_auth(key.as_str())
                        .header("content-type", "application/json")
                        .body(report_body(&id, tokens))
                        .send()
                        .await;
                    let answer = match sent {
                        Ok(res) if res.status() == 201 => match res.json::<Value>().await {
                            Ok(v) => Answer::Acknowledged { used_tokens: v["used_tokens"].as_u64().unwrap_or(0) },
                            Err(_) => Answer::Unknown,
                        },
                        Ok(res) => panic!("unexpected status {}", res.status()),
                        Err(_) => Answer::Unknown,
                    };
                    let died = matches!(answer, Answer::Unknown);
                    seen.push((id, tokens, answer));
                    if died {
                        break;
                    }
                }
                seen
            }));
        }
        tokio::time::sleep(Duration::from_millis(50 + rng.next(400))).await;
        server.kill();
        stop.store(true, Ordering::SeqCst);
        for client in clients {
            for (id, tokens, answer) in client.await.expect("client") {
                answers.insert(id, (tokens, answer));
            }
        }
    }

    // After the last crash: every acknowledged report replays with its original answer;
    // a report that got no answer either committed (replay) or did not (recorded now).
    let server = ServerProcess::start(&url).await;
    startups.push(server.startup);
    let http = reqwest::Client::new();
    let acknowledged: Vec<_> = answers.iter().filter(|(_, (_, a))| matches!(a, Answer::Acknowledged { .. })).collect();
    assert!(acknowledged.len() as u64 >= kills, "the load produced too few reports to test anything");
    let unknown = answers.len() - acknowledged.len();
    let mut committed_unanswered = 0;
    for (i, (id, (tokens, answer))) in answers.iter().enumerate() {
        let acked = matches!(answer, Answer::Acknowledged { .. });
        // Replay every unanswered report and a sample of the acknowledged ones.
        if acked && i % 10 != 0 {
            continue;
        }
        let res = http
            .post(format!("{}/api/agent/usage/report", server.base))
            .bearer_auth(key.as_str())
            .header("content-type", "application/json")
            .body(report_body(id, *tokens))
            .send()
            .await
            .expect("replay");
        let status = res.status().as_u16();
        let body: Value = res.json().await.expect("json");
        match answer {
            Answer::Acknowledged { used_tokens } => {
                assert_eq!(status, 200, "{id} was acknowledged, so it must be a replay");
                assert_eq!(body["replayed"], true);
                assert_eq!(body["used_tokens"].as_u64(), Some(*used_tokens), "{id}: the original answer");
            }
            Answer::Unknown => {
                assert!(status == 200 || status == 201, "{id}: {status}");
                // Committed before the kill, answer lost: the replay says so.
                committed_unanswered += usize::from(status == 200);
            }
        }
    }
    drop(server);

    let db = Db::connect(&DbOptions::new(&url)).await.expect("db");
    let (integrity,): (String,) = sqlx::query_as("PRAGMA integrity_check").fetch_one(&db.pool).await.expect("pragma");
    assert_eq!(integrity, "ok");
    let stored: Vec<(String,)> =
        sqlx::query_as("SELECT event_id FROM usage_events").fetch_all(&db.pool).await.expect("ids");
    let stored: std::collections::HashSet<String> = stored.into_iter().map(|(id,)| id).collect();
    for (id, _) in &acknowledged {
        assert!(stored.contains(*id), "acknowledged report {id} is missing after the crashes");
    }
    let (events, event_tokens): (i64, i64) = sqlx::query_as(
        "SELECT COUNT(*), CAST(COALESCE(SUM(input_tokens + output_tokens), 0) AS BIGINT) FROM usage_events",
    )
    .fetch_one(&db.pool)
    .await
    .expect("events");
    let (counted, counter_tokens): (i64, i64) = sqlx::query_as(
        "SELECT CAST(COALESCE(SUM(event_count), 0) AS BIGINT), CAST(COALESCE(SUM(input_tokens + output_tokens), 0) AS BIGINT) FROM usage_counters",
    )
    .fetch_one(&db.pool)
    .await
    .expect("counters");
    assert_eq!((counted, counter_tokens), (events, event_tokens), "counters equal the sum of the events");
    let slowest = startups.iter().max().copied().unwrap_or_default();
    eprintln!(
        "crash test: {kills} kills, {} acknowledged, {unknown} unanswered ({committed_unanswered} of them had committed), {events} stored; slowest restart {slowest:?}",
        acknowledged.len()
    );
    assert!(slowest < Duration::from_secs(1), "restart took {slowest:?}");
}
