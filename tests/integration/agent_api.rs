//! The agent HTTP API: check, report, status, on both backends.

use crate::common::{on_each_backend, TestApp};
use serde_json::Value;
use std::collections::HashSet;
use tollgate::limits::period::DAY_MS;

async fn json(res: reqwest::Response) -> Value {
    res.json().await.expect("json body")
}

#[tokio::test]
async fn tenant_without_limit_is_always_allowed() {
    on_each_backend(|app| async move {
        let key = app.tenant_with_agent("open", None).await;
        assert_eq!(app.report(&key, "e1", 5_000_000, 5_000_000).await.status(), 201);
        let res = app.check(&key).await;
        assert_eq!(res.status(), 200);
        let body = json(res).await;
        assert_eq!(body["allowed"], true);
        assert_eq!(body["used_tokens"], 10_000_000);
        assert_eq!(body["token_limit"], Value::Null);
        assert_eq!(body["remaining_tokens"], Value::Null);
    })
    .await;
}

#[tokio::test]
async fn refuses_check_once_limit_reached() {
    on_each_backend(|app| async move {
        let key = app.tenant_with_agent("capped", Some(1000)).await;
        assert_eq!(app.report(&key, "a", 300, 299).await.status(), 201);
        let body = json(app.check(&key).await).await;
        assert_eq!((body["allowed"].clone(), body["remaining_tokens"].clone()), (Value::Bool(true), 401.into()));

        let body = json(app.report(&key, "b", 200, 201).await).await;
        assert_eq!(body["used_tokens"], 1000);
        assert_eq!(body["remaining_tokens"], 0);

        let res = app.check(&key).await;
        assert_eq!(res.status(), 429);
        let retry_after: u64 = res.headers()["retry-after"].to_str().expect("ascii").parse().expect("seconds");
        assert_eq!(retry_after, 30 * 86_400, "the first period ends 30 days after the tenant was created");
        let body = json(res).await;
        assert_eq!(body["error"], "token_limit_exceeded");
        assert_eq!(body["limit"], "token_limit");
        assert_eq!(body["tenant_id"], "capped");
        assert_eq!(body["used_tokens"], 1000);
        assert_eq!(body["token_limit"], 1000);
        assert_eq!(body["usage_pct"], 100.0);
        assert_eq!(body["resets_at"], "2027-02-14T08:00:00Z");
        assert!(body["message"].as_str().is_some_and(|m| m.contains("1000")));
    })
    .await;
}

#[tokio::test]
async fn a_new_period_starts_from_zero() {
    on_each_backend(|app| async move {
        let key = app.tenant_with_agent("monthly", Some(100)).await;
        app.report(&key, "big", 100, 0).await;
        assert_eq!(app.check(&key).await.status(), 429);

        app.state.clock.advance(30 * DAY_MS);
        let body = json(app.check(&key).await).await;
        assert_eq!(body["allowed"], true);
        assert_eq!(body["used_tokens"], 0);
        assert_eq!(body["resets_at"], "2027-03-16T08:00:00Z");
        // The old period's event id is still known: replaying it changes nothing.
        let replay = app.report(&key, "big", 100, 0).await;
        assert_eq!(replay.status(), 200);
        assert_eq!(json(replay).await["recorded"], false);
    })
    .await;
}

#[tokio::test]
async fn a_repeated_event_id_counts_once() {
    on_each_backend(|app| async move {
        let key = app.tenant_with_agent("idem", Some(10_000)).await;
        let first = app.report(&key, "evt-1", 100, 50).await;
        assert_eq!(first.status(), 201);
        assert_eq!(json(first).await["recorded"], true);
        let again = app.report(&key, "evt-1", 100, 50).await;
        assert_eq!(again.status(), 200);
        let body = json(again).await;
        assert_eq!((body["recorded"].clone(), body["used_tokens"].clone()), (Value::Bool(false), 150.into()));
        let status = app.status(&key).await;
        assert_eq!((status["total_tokens"].clone(), status["event_count"].clone()), (150.into(), 1.into()));
    })
    .await;
}

#[tokio::test]
async fn reports_are_priced_from_the_model_table_unless_a_cost_is_sent() {
    on_each_backend(|app| async move {
        let key = app.tenant_with_agent("priced", None).await;
        // gpt-4o: $2.50 per million input, $10 per million output.
        let body = json(app.report(&key, "p1", 1_000_000, 100_000).await).await;
        assert_eq!(body["cost_usd"], 3.5);
        let sent = r#"{"event_id":"p2","model":"my-own-model","input_tokens":10,"output_tokens":10,"cost_usd":0.125}"#;
        assert_eq!(app.agent_post("/api/agent/usage/report", &key, sent).await.status(), 201);
        assert_eq!(app.status(&key).await["cost_usd"], 3.625);
    })
    .await;
}

#[tokio::test]
async fn missing_or_wrong_keys_are_401() {
    on_each_backend(|app| async move {
        let key = app.tenant_with_agent("keyed", None).await;
        let no_key = app.client.post(app.url("/api/agent/usage/check")).send().await.expect("send");
        assert_eq!(no_key.status(), 401);
        assert_eq!(no_key.headers()["www-authenticate"], "Bearer");
        assert_eq!(app.check("tg_not-a-real-key").await.status(), 401);
        let basic = app.client.post(app.url("/api/agent/usage/check")).header("authorization", format!("Basic {key}"));
        assert_eq!(basic.send().await.expect("send").status(), 401);
        let status = app.client.get(app.url("/api/agent/usage/status")).send().await.expect("send");
        assert_eq!(status.status(), 401);
        assert_eq!(app.report("wrong", "e", 1, 1).await.status(), 401);
    })
    .await;
}

#[tokio::test]
async fn bad_reports_are_refused_naming_the_field_and_record_nothing() {
    on_each_backend(|app| async move {
        let key = app.tenant_with_agent("strict", Some(1000)).await;
        let cases: &[(&str, u16, Option<&str>)] = &[
            (r#"{"event_id":"x","model":"m","input_tokens":1"#, 400, None),
            ("not json", 400, None),
            (r#"{"event_id":"x","model":"m","input_tokens":-5,"output_tokens":1}"#, 422, Some("input_tokens")),
            (r#"{"event_id":"x","model":"m","input_tokens":1,"output_tokens":100000001}"#, 422, Some("output_tokens")),
            (r#"{"event_id":"x","model":"m","input_tokens":"12","output_tokens":1}"#, 422, Some("input_tokens")),
            (r#"{"event_id":"x","model":"m","input_tokens":1.5,"output_tokens":1}"#, 422, Some("input_tokens")),
            (r#"{"event_id":"x","model":"m","input_tokens":1e30,"output_tokens":1}"#, 422, Some("input_tokens")),
            (r#"{"event_id":"x","model":"m","input_tokens":1}"#, 422, Some("output_tokens")),
            (r#"{"event_id":"x","model":"m","input_tokens":1,"output_tokens":1,"tokens":5}"#, 422, Some("tokens")),
            (r#"{"event_id":"","model":"m","input_tokens":1,"output_tokens":1}"#, 422, Some("event_id")),
            (r#"{"event_id":"x","model":"m","input_tokens":1,"output_tokens":1,"cost_usd":-1}"#, 422, Some("cost_usd")),
            (r#"{"event_id":7,"model":"m","input_tokens":1,"output_tokens":1}"#, 422, Some("event_id")),
        ];
        for (body, status, field) in cases {
            let res = app.agent_post("/api/agent/usage/report", &key, body).await;
            assert_eq!(res.status(), *status, "{body}");
            let json = json(res).await;
            assert_eq!(json["field"].as_str(), *field, "{body}: {json}");
            assert!(json["message"].as_str().is_some_and(|m| !m.is_empty()));
        }
        let check_with_junk = app.agent_post("/api/agent/usage/check", &key, r#"{"estimate":"x"}"#).await;
        assert_eq!(check_with_junk.status(), 422);
        let status = app.status(&key).await;
        assert_eq!((status["total_tokens"].clone(), status["event_count"].clone()), (0.into(), 0.into()));
    })
    .await;
}

#[tokio::test]
async fn an_agent_sees_only_its_own_tenant() {
    on_each_backend(|app| async move {
        let a = app.tenant_with_agent("tenant-a", Some(100)).await;
        let b = app.tenant_with_agent("tenant-b", Some(100)).await;
        app.report(&a, "shared-id", 100, 0).await;
        // The same event id from another tenant is a different event.
        assert_eq!(app.report(&b, "shared-id", 10, 0).await.status(), 201);
        assert_eq!(app.status(&a).await["total_tokens"], 100);
        assert_eq!(app.status(&b).await["tenant_id"], "tenant-b");
        assert_eq!(app.status(&b).await["total_tokens"], 10);
        assert_eq!(app.check(&a).await.status(), 429);
        assert_eq!(app.check(&b).await.status(), 200);
    })
    .await;
}

/// `tasks` tasks × `reports` reports against one tenant, 10 % of them repeating an id already
/// used: the counter must equal the sum over distinct events exactly.
async fn concurrent_reports_count_once(app: TestApp, tasks: u32, reports: u32) {
    let key = app.tenant_with_agent("busy", None).await;
    let app = std::sync::Arc::new(app);
    let mut handles = Vec::new();
    for task in 0..tasks {
        let (app, key) = (app.clone(), key.clone());
        handles.push(tokio::spawn(async move {
            let mut ids = Vec::new();
            for i in 0..reports {
                // Every tenth report reuses an id: sometimes this task's, sometimes another's.
                let id =
                    if i % 10 == 9 { format!("t{}-{}", (task + i) % tasks, i / 2) } else { format!("t{task}-{i}") };
                let res = app.report(&key, &id, 3, 2).await;
                assert!(matches!(res.status().as_u16(), 200 | 201), "{}", res.status());
                ids.push(id);
            }
            ids
        }));
    }
    let mut distinct = HashSet::new();
    for handle in handles {
        distinct.extend(handle.await.expect("task"));
    }
    let status = app.status(&key).await;
    assert_eq!(status["event_count"], distinct.len());
    assert_eq!(status["total_tokens"], distinct.len() * 5);
    assert!(distinct.len() < (tasks * reports) as usize, "the test must actually repeat ids");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn eight_tasks_of_500_reports_count_each_distinct_event_exactly_once() {
    on_each_backend(|app| concurrent_reports_count_once(app, 8, 500)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sixty_four_tasks_of_80_reports_count_each_distinct_event_exactly_once() {
    on_each_backend(|app| concurrent_reports_count_once(app, 64, 80)).await;
}

#[tokio::test]
async fn health_is_ok() {
    on_each_backend(|app: TestApp| async move {
        let res = app.client.get(app.url("/healthz")).send().await.expect("send");
        assert_eq!(res.status(), 200);
    })
    .await;
}
