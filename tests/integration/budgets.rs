//! USD budgets enforced through the gate, on both backends.

use crate::common::{count_admitted, on_each_backend, TestApp};
use serde_json::{json, Value};
use std::sync::Arc;

async fn report_cost(app: &TestApp, key: &str, event_id: &str, cost_usd: f64) -> (u16, Value) {
    let body =
        json!({"event_id": event_id, "model": "gpt-4o", "input_tokens": 10, "output_tokens": 10, "cost_usd": cost_usd});
    let res = app.agent_post("/api/agent/usage/report", key, &body.to_string()).await;
    (res.status().as_u16(), res.json().await.unwrap_or(Value::Null))
}

async fn check(app: &TestApp, key: &str, body: Value) -> (u16, Option<String>, Value) {
    let res = app.agent_post("/api/agent/usage/check", key, &body.to_string()).await;
    let retry_after = res.headers().get("retry-after").map(|v| v.to_str().unwrap_or_default().to_owned());
    (res.status().as_u16(), retry_after, res.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn a_blocked_tenant_is_refused_with_the_budget_body() {
    on_each_backend(|app| async move {
        let key = app.tenant_with_agent("spender", None).await;
        app.set_budget("spender", "10", 80, 110).await; // blocked from $11.00

        let (status, body) = report_cost(&app, &key, "a", 10.99).await;
        assert_eq!(status, 201, "{body}");
        assert_eq!((body["budget_state"].clone(), body["spend_usd"].clone()), ("grace".into(), 10.99.into()));
        assert_eq!(body["max_budget_usd"], 10.0);
        let (status, _, body) = check(&app, &key, json!({})).await;
        assert_eq!((status, body["budget_state"].clone()), (200, "grace".into()), "grace still allows: {body}");

        report_cost(&app, &key, "b", 0.01).await;
        let (status, retry_after, body) = check(&app, &key, json!({})).await;
        assert_eq!(status, 429, "{body}");
        assert_eq!(retry_after.as_deref(), Some("2592000"), "seconds to the reset, 30 days after the budget began");
        assert_eq!(body["error"], "budget_exceeded");
        assert_eq!(body["limit"], "budget");
        assert_eq!(body["budget_state"], "blocked");
        assert_eq!((body["spend_usd"].clone(), body["max_budget_usd"].clone()), (11.0.into(), 10.0.into()));
        assert!((body["percent"].as_f64().expect("percent") - 110.0).abs() < 1e-9, "{body}");
        assert_eq!(body["resets_at"], "2027-02-14T08:00:00Z");
        assert!(body["message"].as_str().is_some_and(|m| m.contains("$11.00") && m.contains("110%")), "{body}");

        let status = app.status(&key).await;
        assert_eq!(
            (status["budget_state"].clone(), status["block_amount_usd"].clone()),
            ("blocked".into(), 11.0.into())
        );
    })
    .await;
}

#[tokio::test]
async fn the_token_limit_and_the_budget_each_name_themselves() {
    on_each_backend(|app| async move {
        let tokens = app.tenant_with_agent("tokens-first", Some(20)).await;
        app.set_budget("tokens-first", "100", 80, 110).await;
        report_cost(&app, &tokens, "t", 0.5).await; // 20 tokens: at the token limit, far from the budget
        let (status, _, body) = check(&app, &tokens, json!({})).await;
        assert_eq!(
            (status, body["limit"].clone(), body["budget_state"].clone()),
            (429, "token_limit".into(), "ok".into())
        );

        let dollars = app.tenant_with_agent("budget-first", Some(1_000_000)).await;
        app.set_budget("budget-first", "1", 80, 100).await;
        report_cost(&app, &dollars, "d", 1.0).await;
        let (status, _, body) = check(&app, &dollars, json!({})).await;
        assert_eq!(
            (status, body["limit"].clone(), body["error"].clone()),
            (429, "budget".into(), "budget_exceeded".into())
        );

        // A tenant without a budget says so: budget_state is null.
        let open = app.tenant_with_agent("no-budget", None).await;
        let (_, _, body) = check(&app, &open, json!({})).await;
        assert_eq!(body["budget_state"], Value::Null);
    })
    .await;
}

/// A $10 budget blocking at 100 % with $9.05 spent leaves room for exactly nine estimates of
/// $0.10 (10 000 gpt-4o tokens at its $10 per million output price); 64 racing checks admit
/// exactly nine, and once they report, spend stays under the block amount.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_priced_estimates_never_pass_the_block_amount() {
    on_each_backend(|app| async move {
        let app = Arc::new(app);
        for round in 0..5 {
            let id = format!("racing-{round}");
            let key = app.tenant_with_agent(&id, None).await;
            app.set_budget(&id, "10", 80, 100).await;
            report_cost(&app, &key, "before", 9.05).await;
            let tasks: Vec<_> = (0..64)
                .map(|_| {
                    let (app, key) = (app.clone(), key.clone());
                    tokio::spawn(async move {
                        let (status, _, body) =
                            check(&app, &key, json!({"estimated_tokens": 10_000, "model": "gpt-4o"})).await;
                        if status == 200 {
                            let reservation = body["reservation_id"].as_str().unwrap_or_default().to_owned();
                            let id = format!("call-{reservation}");
                            let report = json!({"event_id": id, "model": "gpt-4o", "input_tokens": 0,
                                "output_tokens": 10_000, "reservation_id": reservation});
                            let res = app.agent_post("/api/agent/usage/report", &key, &report.to_string()).await;
                            assert_eq!(res.status(), 201);
                        } else {
                            assert_eq!(body["limit"], "budget", "{body}");
                        }
                        status
                    })
                })
                .collect();
            assert_eq!(count_admitted(tasks).await, 9, "round {round}");
            let status = app.status(&key).await;
            let spend = status["spend_usd"].as_f64().expect("spend");
            assert!((spend - 9.95).abs() < 1e-9 && spend <= 10.0, "round {round}: spend {spend}");
            assert_eq!(status["reserved_tokens"], 0, "every reservation was settled");
        }
    })
    .await;
}

#[tokio::test]
async fn cache_and_reasoning_tokens_reach_history_status_and_usage_by_model() {
    on_each_backend(|app| async move {
        let key = app.tenant_with_agent("cached", Some(20_000)).await;
        // gpt-4o at OpenAI's published prices ($2.50 input, $1.25 cached input, $10 output per
        // Mtok): 976×2.5 + 1024×1.25 + 300×10 = 6,720 micro-USD.
        let body = json!({"event_id": "c1", "model": "gpt-4o", "provider": "openai", "input_tokens": 2000,
            "output_tokens": 300, "cache_read_tokens": 1024, "reasoning_tokens": 100});
        let res = app.agent_post("/api/agent/usage/report", &key, &body.to_string()).await;
        assert_eq!(res.status(), 201);
        let answer: Value = res.json().await.expect("json");
        assert_eq!((answer["cost_usd"].clone(), answer["cost_source"].clone()), (0.00672.into(), "genai_prices".into()));
        // An old-style report still means what it meant.
        app.report(&key, "c2", 100, 50).await;
        let status = app.status(&key).await;
        assert_eq!(status["used_tokens"], 2450, "cached tokens count against the limit");
        assert_eq!((status["cache_read_tokens"].clone(), status["reasoning_tokens"].clone()), (1024.into(), 100.into()));
        let root = app.api_token_of(&app.admin, "ops").await;
        let (code, page) = app.call(Some(&root), reqwest::Method::GET, "/api/client/usage/history?tenant_id=cached", None).await;
        assert_eq!(code, 200, "{page}");
        let event = page["events"].as_array().expect("events").iter().find(|e| e["event_id"] == "c1").expect("c1").clone();
        assert_eq!(
            (event["cache_read_tokens"].clone(), event["reasoning_tokens"].clone(), event["cost_source"].clone()),
            (1024.into(), 100.into(), "genai_prices".into())
        );
        // A part larger than its whole is refused, naming the field, and records nothing.
        let bad = json!({"event_id": "c3", "model": "gpt-4o", "input_tokens": 10, "output_tokens": 1, "cache_write_1h_tokens": 11});
        let res = app.agent_post("/api/agent/usage/report", &key, &bad.to_string()).await;
        assert_eq!(res.status(), 422);
        let error: Value = res.json().await.expect("json");
        assert_eq!(error["field"], "cache_write_1h_tokens");
        assert_eq!(app.status(&key).await["event_count"], 2);
        // The console's usage by model shows the cache reads.
        let html = app.admin.get(app.url("/tenants/cached")).send().await.expect("get").text().await.expect("html");
        assert!(html.contains("Cache Reads") && html.contains("1,024"), "usage by model shows cached tokens");
    })
    .await;
}

#[tokio::test]
async fn an_unknown_model_is_recorded_at_zero_and_flagged() {
    on_each_backend(|app| async move {
        let key = app.tenant_with_agent("in-house", None).await;
        let body = json!({"event_id": "u1", "model": "in-house-llm", "input_tokens": 500, "output_tokens": 500});
        let res = app.agent_post("/api/agent/usage/report", &key, &body.to_string()).await;
        assert_eq!(res.status(), 201);
        let answer: Value = res.json().await.expect("json");
        assert_eq!((answer["cost_usd"].clone(), answer["cost_source"].clone()), (0.0.into(), "unknown_model".into()));
        let priced = json!({"event_id": "u2", "model": "gpt-4o", "input_tokens": 1, "output_tokens": 1});
        let answer: Value =
            app.agent_post("/api/agent/usage/report", &key, &priced.to_string()).await.json().await.expect("json");
        assert_eq!(answer["cost_source"], "genai_prices");
        let (_, sent) = report_cost(&app, &key, "u3", 0.5).await;
        assert_eq!(sent["cost_source"], "reported");
        let status = app.status(&key).await;
        assert_eq!((status["unpriced_events"].clone(), status["event_count"].clone()), (1.into(), 3.into()));
        // The console flags it on the tenant page and on its budget page.
        let flag = "1 event this period used a model without a price and no reported cost: recorded at $0.00.";
        for path in ["/tenants/in-house", "/tenants/in-house/budget"] {
            let html = app.admin.get(app.url(path)).send().await.expect("get").text().await.expect("html");
            assert!(html.contains(flag), "{path} lacks the flag");
        }
    })
    .await;
}
