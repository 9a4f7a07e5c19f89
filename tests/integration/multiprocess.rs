//! Two server processes on one PostgreSQL database stay exact: admission and idempotency hold
//! across processes (the shared engine decides in SQL, not in memory).

use crate::common::{count_admitted, TestDatabase};
use crate::process::{tenant_with_agent, ServerProcess};
use serde_json::json;
use std::collections::HashSet;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_processes_on_one_postgres_admit_exactly_and_count_once() {
    let Some(db) = TestDatabase::postgres().await else { return };
    let (a, b) = (ServerProcess::start(&db.url).await, ServerProcess::start(&db.url).await);
    let http = reqwest::Client::new();

    // 64 concurrent checks of estimate e, alternating between the processes: exactly k admitted.
    for round in 0..5u64 {
        let (k, e) = (3 + round * 7, 250);
        let key = tenant_with_agent(&db.url, &format!("multi-{round}"), Some(k * e)).await;
        let tasks: Vec<_> = (0..64)
            .map(|i| {
                let url = format!("{}/api/agent/usage/check", if i % 2 == 0 { &a.base } else { &b.base });
                let (http, key) = (http.clone(), key.clone());
                tokio::spawn(async move {
                    let res = http.post(url).bearer_auth(key).json(&json!({"estimated_tokens": e})).send().await;
                    res.expect("check").status().as_u16()
                })
            })
            .collect();
        let admitted = count_admitted(tasks).await;
        assert_eq!(admitted, k, "round {round}");
    }

    // 64 tasks reporting to both processes, 10 % of ids repeated: the counter equals the
    // distinct events.
    let key = tenant_with_agent(&db.url, "multi-reports", None).await;
    let tasks: Vec<_> = (0..64u32)
        .map(|t| {
            let (http, key) = (http.clone(), key.clone());
            let bases = [a.base.clone(), b.base.clone()];
            tokio::spawn(async move {
                let mut ids = Vec::new();
                for i in 0..40u32 {
                    let id = if i % 10 == 9 { format!("t{}-{}", (t + i) % 64, i / 2) } else { format!("t{t}-{i}") };
                    let body = json!({"event_id": id, "model": "m", "input_tokens": 2, "output_tokens": 1});
                    let url = format!("{}/api/agent/usage/report", bases[(i % 2) as usize]);
                    let status = http.post(url).bearer_auth(&key).json(&body).send().await.expect("report").status();
                    assert!(status == 200 || status == 201, "{status}");
                    ids.push(id);
                }
                ids
            })
        })
        .collect();
    let mut distinct = HashSet::new();
    for t in tasks {
        distinct.extend(t.await.expect("task"));
    }
    let status: serde_json::Value = http
        .get(format!("{}/api/agent/usage/status", a.base))
        .bearer_auth(&key)
        .send()
        .await
        .expect("status")
        .json()
        .await
        .expect("json");
    assert_eq!(status["event_count"], distinct.len());
    assert_eq!(status["total_tokens"], distinct.len() * 3);
    drop((a, b));
    db.cleanup().await;
}
