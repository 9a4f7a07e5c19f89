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

/// The CLI is another process: on SQLite the server's ledgers pick up an override it adds,
/// changes and removes, and a mode it sets, within the 5 s refresh.
#[tokio::test]
async fn cli_changes_to_overrides_and_modes_reach_a_running_sqlite_server() {
    let db = TestDatabase::sqlite();
    let server = ServerProcess::start(&db.url).await;
    let key = tenant_with_agent(&db.url, "cli-made", None).await;
    let http = reqwest::Client::new();
    let check = |user: &'static str| {
        let (http, key, url) = (http.clone(), key.clone(), format!("{}/api/agent/usage/check", server.base));
        async move {
            let res = http.post(url).bearer_auth(key).json(&json!({"user_id": user})).send().await.expect("check");
            let status = res.status().as_u16();
            (status, res.json::<serde_json::Value>().await.unwrap_or_default())
        }
    };
    let report = json!({"event_id": "e1", "model": "gpt-4o", "input_tokens": 50, "output_tokens": 0, "user_id": "ann"});
    let res = http.post(format!("{}/api/agent/usage/report", server.base)).bearer_auth(&key).json(&report).send().await;
    assert_eq!(res.expect("report").status(), 201);
    // The server has loaded the tenant (and ann has no override) before the CLI runs.
    assert_eq!(check("ann").await.0, 200);

    let cli = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_tollgate"))
            .args(args)
            .env("DATABASE_URL", &db.url)
            .env("RUST_LOG", "warn")
            .output()
            .expect("run the CLI");
        assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    };
    let eventually = |user: &'static str, want: u16, what: &'static str| async move {
        for _ in 0..80 {
            if check(user).await.0 == want {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        panic!("{what}: {user} was not answered {want} within 8 s");
    };
    cli(&["tenant", "set-user-limit", "cli-made", "ann", "50"]);
    eventually("ann", 429, "a new override").await;
    assert_eq!(check("ann").await.1["limit"], "user_token_limit");
    assert_eq!(check("bob").await.0, 200, "other users share the tenant (no limit)");
    cli(&["tenant", "set-user-limit", "cli-made", "ann", "51"]);
    eventually("ann", 200, "a raised override").await;
    cli(&["tenant", "set-user-limit", "cli-made", "ann", "10"]);
    eventually("ann", 429, "a lowered override").await;
    cli(&["tenant", "set-mode", "cli-made", "monitor"]);
    eventually("ann", 200, "monitor mode").await;
    assert_eq!(check("ann").await.1["would_refuse"], "user_token_limit");
    cli(&["tenant", "set-mode", "cli-made", "default"]);
    eventually("ann", 429, "back to the default mode").await;
    cli(&["tenant", "set-user-limit", "cli-made", "ann", "none"]);
    eventually("ann", 200, "a removed override").await;
    drop(server);
}
