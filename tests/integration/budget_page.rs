//! The budget page's server functions, the rendered page and the LiteLLM sync (against a local
//! stand-in). On both backends.

use crate::common::{on_each_backend, on_each_backend_with, AppOptions, TestApp};
use axum::http::{HeaderMap, StatusCode};
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};
use tollgate::auth::Role;
use tollgate::limits::period::DAY_MS;

fn form<'a>(
    tenant: &'a str,
    max: &'a str,
    alert: &'a str,
    grace: &'a str,
    duration: &'a str,
) -> [(&'a str, &'a str); 5] {
    [
        ("tenant_id", tenant),
        ("max_budget", max),
        ("alert_threshold", alert),
        ("grace_threshold", grace),
        ("budget_duration", duration),
    ]
}

async fn report_cost(app: &TestApp, key: &str, event_id: &str, cost_usd: f64) {
    let body = json!({"event_id": event_id, "model": "m", "input_tokens": 1, "output_tokens": 1, "cost_usd": cost_usd});
    assert_eq!(app.agent_post("/api/agent/usage/report", key, &body.to_string()).await.status(), 201);
}

/// The page at `path` as the system admin gets it from the server.
async fn page_html(app: &TestApp, path: &str) -> String {
    app.admin.get(app.url(path)).send().await.expect("get").text().await.expect("html")
}

async fn budget_audit_count(app: &TestApp, tenant: &str) -> usize {
    let (_, page) = app.server_fn_get("list_audit", &format!("tenant_id={tenant}")).await;
    page["entries"].as_array().expect("entries").iter().filter(|e| e["action"] == "budget_config_updated").count()
}

#[tokio::test]
async fn the_page_data_has_spend_state_alerts_and_trend() {
    on_each_backend(|app| async move {
        let key = app.tenant_with_agent("shown", None).await;
        let (status, body) = app.server_fn_get("load_budget", "tenant_id=shown").await;
        assert_eq!((status, body["budget"].clone()), (200, Value::Null), "no budget yet: {body}");

        app.server_fn("save_budget", &form("shown", "500", "80", "110", "30d")).await;
        // Eight days of spend: $60 a day → $480 by day 8 (96 %, alert state).
        for day in 0..8 {
            report_cost(&app, &key, &format!("d{day}"), 60.0).await;
            app.state.clock.advance(DAY_MS);
        }
        let (status, o) = app.server_fn_get("load_budget", "tenant_id=shown&alerts_page=1").await;
        assert_eq!(status, 200, "{o}");
        assert_eq!(
            (o["spend_micros"].clone(), o["budget"]["max_budget_micros"].clone()),
            (480_000_000.into(), 500_000_000.into())
        );
        let trend = o["trend"]["days"].as_array().expect("days");
        assert_eq!(trend.len(), 9, "day 0 to today, day 8");
        assert_eq!(trend[0][1], 60_000_000);
        assert_eq!(trend[8][1], 480_000_000);
        let alerts = o["alerts"]["alerts"].as_array().expect("alerts");
        let labels: Vec<&str> = alerts.iter().map(|a| a["label"].as_str().expect("label")).collect();
        assert!(labels.contains(&"80% Threshold") && labels.contains(&"Projected Limit"), "{labels:?}");
        assert_eq!(o["alerts"]["total"], alerts.len());
    })
    .await;
}

#[tokio::test]
async fn invalid_budgets_are_refused_per_field_and_change_nothing() {
    on_each_backend(|app| async move {
        app.tenant_with_agent("strict-budget", None).await;
        for (max, alert, grace, duration, field) in [
            ("0", "80", "110", "30d", "max_budget"),
            ("-5", "80", "110", "30d", "max_budget"),
            ("abc", "80", "110", "30d", "max_budget"),
            ("10.005", "80", "110", "30d", "max_budget"),
            ("500", "49", "110", "30d", "alert_threshold"),
            ("500", "101", "110", "30d", "alert_threshold"),
            ("500", "80", "99", "30d", "grace_threshold"),
            ("500", "80", "151", "30d", "grace_threshold"),
            ("500", "80", "110", "45d", "budget_duration"),
        ] {
            let (status, body) =
                app.server_fn("save_budget", &form("strict-budget", max, alert, grace, duration)).await;
            assert_eq!(
                (status, body["field"].as_str()),
                (422, Some(field)),
                "{max} {alert} {grace} {duration}: {body}"
            );
            assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()));
        }
        let (_, o) = app.server_fn_get("load_budget", "tenant_id=strict-budget").await;
        assert_eq!(o["budget"], Value::Null);
        assert_eq!(budget_audit_count(&app, "strict-budget").await, 0);
    })
    .await;
}

#[tokio::test]
async fn saving_writes_an_audit_row_and_a_new_duration_begins_at_the_reset() {
    on_each_backend(|app| async move {
        let key = app.tenant_with_agent("saver", None).await;
        let (status, body) = app.server_fn("save_budget", &form("saver", "500", "80", "110", "30d")).await;
        assert_eq!((status, body.as_str()), (200, Some("Budget configuration updated successfully")));
        report_cost(&app, &key, "a", 100.0).await;
        app.state.clock.advance(10 * DAY_MS);
        // Same duration: same period, new figures at once.
        app.server_fn("save_budget", &form("saver", "120", "50", "150", "30d")).await;
        let (_, o) = app.server_fn_get("load_budget", "tenant_id=saver").await;
        assert_eq!(
            (o["spend_micros"].clone(), o["budget"]["grace_threshold_pct"].clone()),
            (100_000_000.into(), 150.into())
        );
        let check = app.check(&key).await;
        assert_eq!(check.status(), 200, "$100 of a $120 budget blocking at $180");
        // Another duration: the current period runs on to its reset, spend and all.
        let (_, before) = app.server_fn_get("load_budget", "tenant_id=saver").await;
        app.server_fn("save_budget", &form("saver", "120", "50", "150", "60d")).await;
        let (_, o) = app.server_fn_get("load_budget", "tenant_id=saver").await;
        assert_eq!(o["spend_micros"], 100_000_000);
        assert_eq!(
            (o["period_start"].clone(), o["resets_at"].clone()),
            (before["period_start"].clone(), before["resets_at"].clone())
        );
        assert_eq!(
            (o["current_period_days"].clone(), o["budget"]["budget_duration"].clone()),
            (30.into(), "60d".into())
        );
        assert_eq!(o["duration_begins_at"], o["resets_at"]);
        // From the reset on, 60-day periods that start from zero.
        let reset = o["resets_at"].as_i64().expect("reset");
        app.state.clock.advance(reset - o["now"].as_i64().expect("now"));
        let (_, o) = app.server_fn_get("load_budget", "tenant_id=saver").await;
        assert_eq!((o["spend_micros"].clone(), o["period_start"].clone()), (0.into(), reset.into()));
        assert_eq!(o["resets_at"].as_i64(), Some(reset + 60 * DAY_MS));
        assert_eq!((o["current_period_days"].clone(), o["duration_begins_at"].clone()), (60.into(), Value::Null));

        let (_, page) = app.server_fn_get("list_audit", "tenant_id=saver").await;
        let newest = &page["entries"][0];
        assert_eq!(
            (newest["action"].clone(), newest["actor"].clone()),
            ("budget_config_updated".into(), "root".into())
        );
        let old: Value = serde_json::from_str(newest["old_value"].as_str().expect("old")).expect("json");
        let new: Value = serde_json::from_str(newest["new_value"].as_str().expect("new")).expect("json");
        assert_eq!((old["budget_duration"].clone(), new["budget_duration"].clone()), ("30d".into(), "60d".into()));
        assert_eq!((old["max_budget_usd"].clone(), new["max_budget_usd"].clone()), (120.0.into(), 120.0.into()));
        assert_eq!(budget_audit_count(&app, "saver").await, 3);
    })
    .await;
}

/// The hole a tenant admin used to empty its own usage: at 1000 of 1000 tokens (refused) and
/// in its grace period, saving the budget with another duration re-anchored the period and the
/// next check passed with nothing used. Now no save, by any role, through the page or the API,
/// moves the current period: the tenant stays refused and every figure stays.
#[tokio::test]
async fn no_duration_change_empties_the_current_period() {
    on_each_backend(|app| async move {
        let key = app.tenant_with_agent("escaper", Some(1000)).await;
        app.add_user("escaper-admin", "escaper-password", Role::TenantAdmin { tenant_id: "escaper".into() }).await;
        let tenant_admin = app.signed_in("escaper-admin", "escaper-password").await;
        let tenant_token = app.api_token_of(&tenant_admin, "tenant script").await;
        let admin_token = app.api_token_of(&app.admin, "admin script").await;
        app.server_fn("save_budget", &form("escaper", "10", "80", "110", "30d")).await;
        let body =
            json!({"event_id": "all", "model": "m", "input_tokens": 600, "output_tokens": 400, "cost_usd": 10.5});
        assert_eq!(app.agent_post("/api/agent/usage/report", &key, &body.to_string()).await.status(), 201);
        assert_eq!(app.check(&key).await.status(), 429, "at the token limit");
        let figures = |status: Value| {
            (
                status["used_tokens"].clone(),
                status["spend_usd"].clone(),
                status["period_start"].clone(),
                status["resets_at"].clone(),
            )
        };
        let before = figures(app.status(&key).await);
        assert_eq!((before.0.clone(), before.1.clone()), (1000.into(), 10.5.into()));

        let mut durations = ["60d", "90d", "30d", "60d"].into_iter().cycle();
        for (who, client) in [("tenant admin", &tenant_admin), ("system admin", &app.admin)] {
            app.state.clock.advance(DAY_MS);
            let duration = durations.next().expect("duration");
            let (status, body) =
                app.server_fn_as(client, "save_budget", &form("escaper", "10", "80", "110", duration)).await;
            assert_eq!(status, 200, "{who} by page: {body}");
            assert_eq!(app.check(&key).await.status(), 429, "{who} saved {duration} on the page");
            assert_eq!(figures(app.status(&key).await), before, "{who} saved {duration} on the page");
        }
        for (who, token) in [("tenant admin", &tenant_token), ("system admin", &admin_token)] {
            app.state.clock.advance(DAY_MS);
            let days = [60, 90][usize::from(who == "system admin")];
            let body = json!({"budget": {"max_budget_usd": 10, "budget_duration_days": days}});
            let (status, answer) =
                app.call(Some(token), reqwest::Method::PUT, "/api/client/usage/limits/escaper", Some(body)).await;
            assert_eq!(status, 200, "{who} by API: {answer}");
            assert_eq!(answer["budget"]["budget_duration_days"], days);
            assert_eq!(answer["budget"]["budget_duration_begins_at"], answer["resets_at"], "{answer}");
            assert_eq!(app.check(&key).await.status(), 429, "{who} saved {days} days by API");
            assert_eq!(figures(app.status(&key).await), before, "{who} saved {days} days by API");
        }
        // Removing the budget and saving a new one does not re-anchor either.
        let (status, _) = app
            .call(
                Some(&admin_token),
                reqwest::Method::PUT,
                "/api/client/usage/limits/escaper",
                Some(json!({"budget": null})),
            )
            .await;
        assert_eq!(status, 200);
        app.server_fn_as(&tenant_admin, "save_budget", &form("escaper", "10", "80", "110", "90d")).await;
        assert_eq!(app.check(&key).await.status(), 429);
        assert_eq!(figures(app.status(&key).await), before);
    })
    .await;
}

/// A tenant admin may shape their budget below the ceiling a system admin set, never above it
/// (a higher grace threshold counts too) and may not remove it; only system admins set it.
#[tokio::test]
async fn tenant_admins_stay_under_the_budget_ceiling() {
    on_each_backend(|app| async move {
        app.tenant_with_agent("capped", None).await;
        app.add_user("capped-admin", "capped-password", Role::TenantAdmin { tenant_id: "capped".into() }).await;
        let tenant_admin = app.signed_in("capped-admin", "capped-password").await;
        let tenant_token = app.api_token_of(&tenant_admin, "tenant script").await;
        // Only system admins set the ceiling, by page or API.
        let (status, _) = app
            .server_fn_as(
                &tenant_admin,
                "save_budget_ceiling",
                &[("tenant_id", "capped"), ("budget_ceiling", "1000000")],
            )
            .await;
        assert_eq!(status, 403);
        let raise = json!({"budget_ceiling_usd": 1_000_000});
        let (status, _) =
            app.call(Some(&tenant_token), reqwest::Method::PUT, "/api/client/usage/limits/capped", Some(raise)).await;
        assert_eq!(status, 403);
        let (status, body) =
            app.server_fn("save_budget_ceiling", &[("tenant_id", "capped"), ("budget_ceiling", "550")]).await;
        assert_eq!(status, 200, "{body}");

        let (status, body) =
            app.server_fn_as(&tenant_admin, "save_budget", &form("capped", "500", "80", "110", "30d")).await;
        assert_eq!(status, 200, "blocks at $550, the ceiling: {body}");
        for (max, grace) in [("501", "110"), ("500", "111"), ("1000000", "100")] {
            let (status, body) =
                app.server_fn_as(&tenant_admin, "save_budget", &form("capped", max, "80", grace, "30d")).await;
            assert_eq!((status, body["field"].as_str()), (422, Some("max_budget")), "{max} at {grace}%: {body}");
            assert!(body["message"].as_str().is_some_and(|m| m.contains("$550.00")), "{body}");
        }
        let body = json!({"budget": {"max_budget_usd": 5000}});
        let (status, answer) =
            app.call(Some(&tenant_token), reqwest::Method::PUT, "/api/client/usage/limits/capped", Some(body)).await;
        assert_eq!((status, answer["field"].as_str()), (422, Some("max_budget")), "{answer}");
        let (status, _) = app
            .call(
                Some(&tenant_token),
                reqwest::Method::PUT,
                "/api/client/usage/limits/capped",
                Some(json!({"budget": null})),
            )
            .await;
        assert_eq!(status, 422, "a tenant admin may not remove a budget under a ceiling");
        let (_, o) = app.server_fn_get("load_budget", "tenant_id=capped").await;
        assert_eq!(
            (o["budget"]["max_budget_micros"].clone(), o["budget_ceiling_micros"].clone()),
            (500_000_000.into(), 550_000_000.into())
        );
        // The system admin is not held to it; the API shows it; removing it frees the tenant admin.
        let (status, _) = app.server_fn("save_budget", &form("capped", "900", "80", "110", "30d")).await;
        assert_eq!(status, 200);
        let (status, answer) =
            app.call(Some(&tenant_token), reqwest::Method::GET, "/api/client/usage/limits/capped", None).await;
        assert_eq!((status, answer["budget_ceiling_usd"].clone()), (200, 550.0.into()));
        app.server_fn("save_budget_ceiling", &[("tenant_id", "capped"), ("budget_ceiling", "")]).await;
        let (status, _) =
            app.server_fn_as(&tenant_admin, "save_budget", &form("capped", "5000", "80", "150", "30d")).await;
        assert_eq!(status, 200);
        let (_, page) = app.server_fn_get("list_audit", "tenant_id=capped&action=budget_ceiling_changed").await;
        assert_eq!(page["entries"].as_array().map(Vec::len), Some(2), "{page}");
    })
    .await;
}

#[tokio::test]
async fn a_tenant_admin_edits_only_their_own_budget() {
    on_each_backend(|app| async move {
        app.tenant_with_agent("own", None).await;
        app.tenant_with_agent("other", None).await;
        app.add_user("own-admin", "own-password", Role::TenantAdmin { tenant_id: "own".into() }).await;
        let client = app.signed_in("own-admin", "own-password").await;
        let (status, _) = app.server_fn_as(&client, "save_budget", &form("own", "75", "80", "110", "30d")).await;
        assert_eq!(status, 200);
        let (status, _) = app.server_fn_as(&client, "save_budget", &form("other", "75", "80", "110", "30d")).await;
        assert_eq!(status, 404);
        let (_, page) = app.server_fn_get("list_audit", "tenant_id=own").await;
        assert_eq!(page["entries"][0]["actor"], "own-admin");
    })
    .await;
}

#[tokio::test]
async fn the_page_is_rendered_on_the_server_and_the_form_works_without_javascript() {
    on_each_backend(|app| async move {
        let key = app.tenant_with_agent("rendered-budget", None).await;
        app.server_fn("save_budget", &form("rendered-budget", "500", "80", "110", "30d")).await;
        report_cost(&app, &key, "a", 520.0).await;
        let html = page_html(&app, "/tenants/rendered-budget/budget").await;
        for text in [
            "Will block at $550.00 (110% of $500.00)",
            "Grace Period: Active",
            "$520.00",
            "104.0%",
            "budget-grace",
            "Insufficient data",
            "100% Budget Exceeded",
            "Save Budget Config",
        ] {
            assert!(html.contains(text), "missing {text:?}");
        }
        // A plain form post (JavaScript off) saves and comes back to the page with the message.
        let res = app
            .admin
            .post(app.url("/api/save_budget"))
            .header("accept", "text/html")
            .header("referer", app.url("/tenants/rendered-budget/budget"))
            .form(&form("rendered-budget", "1000", "80", "110", "30d"))
            .send()
            .await
            .expect("post");
        assert_eq!(res.status(), 302);
        assert_eq!(res.headers()["location"], "/tenants/rendered-budget/budget?saved=1");
        let html = page_html(&app, "/tenants/rendered-budget/budget?saved=1").await;
        assert!(html.contains("Budget configuration updated successfully") && html.contains("$1,000.00"));
        let missing = app.admin.get(app.url("/tenants/nobody/budget")).send().await.expect("get");
        assert_eq!(missing.status(), 404);
        assert!(missing.text().await.expect("html").contains("Budget data unavailable"));
    })
    .await;
}

/// A LiteLLM stand-in: answers `status` to `/key/update` and keeps what it received.
async fn litellm(status: StatusCode) -> (String, Arc<Mutex<Vec<(String, Value)>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let kept = seen.clone();
    let app = axum::Router::new().route(
        "/key/update",
        axum::routing::post(move |headers: HeaderMap, axum::Json(body): axum::Json<Value>| {
            let kept = kept.clone();
            async move {
                let auth = headers.get("authorization").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
                kept.lock().expect("lock").push((auth, body));
                (status, axum::Json(json!({"detail": "stand-in says so"})))
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, seen)
}

/// Runs `test` on a fresh app configured with LiteLLM at `url` (showing LiteLLM's spend when
/// `spend` is set), on both backends.
async fn with_litellm_options<F, Fut>(url: &str, spend: bool, test: F)
where
    F: Fn(TestApp) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let options = || AppOptions { litellm_url: Some(url.to_owned()), litellm_spend: spend, ..AppOptions::default() };
    on_each_backend_with(options, test).await;
}

async fn with_litellm<F, Fut>(url: &str, test: F)
where
    F: Fn(TestApp) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    with_litellm_options(url, false, test).await;
}

async fn tenant_with_virtual_key(app: &TestApp, id: &str) {
    app.tenant_with_agent(id, None).await;
    let tenant = tollgate::tenants::TenantId::parse(id).expect("id");
    tollgate::tenants::store::set_litellm_key(&app.state.db.pool, &tenant, Some("sk-tenant-key")).await.expect("key");
}

#[tokio::test]
async fn a_working_litellm_receives_the_budget_first() {
    let (url, seen) = litellm(StatusCode::OK).await;
    with_litellm(&url, |app| {
        let seen = seen.clone();
        async move {
            tenant_with_virtual_key(&app, "synced").await;
            let (status, body) = app.server_fn("save_budget", &form("synced", "250.50", "80", "110", "60d")).await;
            assert_eq!(status, 200, "{body}");
            let (auth, sent) = seen.lock().expect("lock").pop().expect("LiteLLM was called");
            assert_eq!(auth, "Bearer master");
            assert_eq!(sent, json!({"key": "sk-tenant-key", "max_budget": 250.5, "budget_duration": "60d"}));
            let (_, o) = app.server_fn_get("load_budget", "tenant_id=synced").await;
            assert_eq!(
                (o["budget"]["max_budget_micros"].clone(), o["litellm_synced"].clone()),
                (250_500_000.into(), true.into())
            );
            // The automation API saves through the same path: LiteLLM first.
            let token = app.api_token_of(&app.admin, "ops").await;
            let body = json!({"budget": {"max_budget_usd": "99.90", "budget_duration_days": 90}});
            let (status, limits) =
                app.call(Some(&token), reqwest::Method::PUT, "/api/client/usage/limits/synced", Some(body)).await;
            assert_eq!((status, limits["budget"]["max_budget_usd"].clone()), (200, 99.9.into()), "{limits}");
            let (_, sent) = seen.lock().expect("lock").pop().expect("LiteLLM was called");
            assert_eq!(sent, json!({"key": "sk-tenant-key", "max_budget": 99.9, "budget_duration": "90d"}));
        }
    })
    .await;
}

#[tokio::test]
async fn a_failing_litellm_leaves_the_budget_and_the_audit_log_unchanged() {
    let (url, seen) = litellm(StatusCode::INTERNAL_SERVER_ERROR).await;
    with_litellm(&url, |app| {
        let seen = seen.clone();
        async move {
            tenant_with_virtual_key(&app, "unsynced").await;
            let (status, body) = app.server_fn("save_budget", &form("unsynced", "300", "80", "110", "30d")).await;
            assert_eq!(status, 502, "{body}");
            let message = body["message"].as_str().expect("message");
            assert!(message.starts_with("Failed to update budget configuration: LiteLLM answered 500"), "{message}");
            assert!(!seen.lock().expect("lock").is_empty());
            let (_, o) = app.server_fn_get("load_budget", "tenant_id=unsynced").await;
            assert_eq!(o["budget"], Value::Null, "rolled back");
            assert_eq!(budget_audit_count(&app, "unsynced").await, 0, "no audit row stays");
            // Through the automation API alike: 502 in the API's error shape, nothing saved.
            let token = app.api_token_of(&app.admin, "ops").await;
            let body = json!({"budget": {"max_budget_usd": 300}});
            let (status, err) =
                app.call(Some(&token), reqwest::Method::PUT, "/api/client/usage/limits/unsynced", Some(body)).await;
            assert_eq!((status, err["error"].as_str().is_some()), (502, true), "{err}");
            let (_, o) = app.server_fn_get("load_budget", "tenant_id=unsynced").await;
            assert_eq!(o["budget"], Value::Null, "rolled back");
            // A tenant without a virtual key is saved without asking LiteLLM.
            app.tenant_with_agent("unkeyed", None).await;
            let (status, _) = app.server_fn("save_budget", &form("unkeyed", "300", "80", "110", "30d")).await;
            assert_eq!(status, 200);
        }
    })
    .await;
}

#[tokio::test]
async fn an_unreachable_litellm_is_reported_in_words() {
    // Port 1: nothing listens there, so the connection is refused. (A port freed after binding
    // it could be handed to the next test server, which then answered instead: a flake.)
    with_litellm("http://127.0.0.1:1", |app| async move {
        tenant_with_virtual_key(&app, "offline").await;
        let (status, body) = app.server_fn("save_budget", &form("offline", "300", "80", "110", "30d")).await;
        assert_eq!(status, 502);
        assert!(body["message"].as_str().is_some_and(|m| m.contains("cannot reach LiteLLM")), "{body}");
        assert_eq!(budget_audit_count(&app, "offline").await, 0);
    })
    .await;
}

/// A LiteLLM stand-in whose `/key/info` reports `spend` USD for any key (counting the reads),
/// or fails with `status`; `/key/update` accepts everything.
async fn litellm_key_info(spend: f64, status: StatusCode) -> (String, Arc<Mutex<usize>>) {
    let reads = Arc::new(Mutex::new(0));
    let counted = reads.clone();
    let app = axum::Router::new()
        .route(
            "/key/info",
            axum::routing::get(move |query: axum::extract::Query<std::collections::HashMap<String, String>>| {
                let counted = counted.clone();
                async move {
                    *counted.lock().expect("lock") += 1;
                    let key = query.get("key").cloned().unwrap_or_default();
                    (status, axum::Json(json!({"key": key, "info": {"spend": spend, "max_budget": 300.0}})))
                }
            }),
        )
        .route("/key/update", axum::routing::post(|| async { axum::Json(json!({})) }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, reads)
}

#[tokio::test]
async fn spend_can_be_read_from_litellm_cached_for_a_minute_and_cleared_by_a_save() {
    let (url, reads) = litellm_key_info(123.45, StatusCode::OK).await;
    with_litellm_options(&url, true, |app| {
        let reads = reads.clone();
        async move {
            *reads.lock().expect("lock") = 0;
            tenant_with_virtual_key(&app, "from-litellm").await;
            app.server_fn("save_budget", &form("from-litellm", "300", "80", "110", "30d")).await;
            let load = || async {
                let (status, o) = app.server_fn_get("load_budget", "tenant_id=from-litellm").await;
                assert_eq!(status, 200, "{o}");
                (o["spend_micros"].as_i64(), o["spend_source"].as_str().map(str::to_owned))
            };
            assert_eq!(load().await, (Some(123_450_000), Some("litellm".to_owned())));
            load().await;
            assert_eq!(*reads.lock().expect("lock"), 1, "the second read within a minute is cached");
            app.state.clock.advance(61_000);
            load().await;
            assert_eq!(*reads.lock().expect("lock"), 2, "read again after a minute");
            app.server_fn("save_budget", &form("from-litellm", "400", "80", "110", "30d")).await;
            load().await;
            assert_eq!(*reads.lock().expect("lock"), 3, "a save clears the cache");
            // A tenant without a virtual key shows the ledger.
            app.tenant_with_agent("ledger-only", None).await;
            let (_, o) = app.server_fn_get("load_budget", "tenant_id=ledger-only").await;
            assert_eq!(o["spend_source"], "ledger");
        }
    })
    .await;
}

#[tokio::test]
async fn a_failing_spend_read_shows_budget_data_unavailable() {
    let (url, _) = litellm_key_info(0.0, StatusCode::SERVICE_UNAVAILABLE).await;
    with_litellm_options(&url, true, |app| async move {
        tenant_with_virtual_key(&app, "dark").await;
        let (status, body) = app.server_fn_get("load_budget", "tenant_id=dark").await;
        assert_eq!(status, 502, "{body}");
        let res = app.admin.get(app.url("/tenants/dark/budget")).send().await.expect("get");
        assert_eq!(res.status(), 502);
        let html = res.text().await.expect("html");
        assert!(html.contains("Budget data unavailable") && html.contains("LiteLLM answered 503"), "{html}");
    })
    .await;
}
