//! Budget alerts: each kind at most once per tenant and period, also under concurrent reports;
//! the projection; webhook delivery with retries. On both backends.

use crate::common::{on_each_backend, TestApp};
use axum::http::StatusCode;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tollgate::alerts::notifier::{self, WebhookConfig};
use tollgate::limits::period::DAY_MS;
use tollgate::tenants::TenantId;

async fn report_cost(app: &TestApp, key: &str, event_id: &str, cost_usd: f64) -> u16 {
    let body =
        json!({"event_id": event_id, "model": "gpt-4o", "input_tokens": 1, "output_tokens": 1, "cost_usd": cost_usd});
    app.agent_post("/api/agent/usage/report", key, &body.to_string()).await.status().as_u16()
}

/// The tenant's alert kinds, oldest first.
async fn alert_kinds(app: &TestApp, tenant: &str) -> Vec<String> {
    let id = TenantId::parse(tenant).expect("id");
    let page = tollgate::alerts::store::list(&app.state.db.pool, &id, 1).await.expect("alerts");
    page.alerts.iter().rev().map(|a| a.kind.as_str().to_owned()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn each_alert_fires_once_when_64_concurrent_reports_cross_it() {
    on_each_backend(|app| async move {
        let app = Arc::new(app);
        let key = app.tenant_with_agent("crowded", None).await;
        app.set_budget("crowded", "10", 80, 110).await;
        // 64 reports of $0.20 race past $8 (80 %), $10 (100 %) and $11 (110 %).
        let tasks: Vec<_> = (0..64)
            .map(|i| {
                let (app, key) = (app.clone(), key.clone());
                tokio::spawn(async move { report_cost(&app, &key, &format!("r{i}"), 0.2).await })
            })
            .collect();
        for task in tasks {
            assert_eq!(task.await.expect("task"), 201);
        }
        let mut kinds = alert_kinds(&app, "crowded").await;
        kinds.sort();
        assert_eq!(kinds, ["blocked", "exceeded", "threshold"]);
        // Later reports (the tenant is blocked, but reports still count) add no alert.
        report_cost(&app, &key, "late", 1.0).await;
        assert_eq!(alert_kinds(&app, "crowded").await.len(), 3);
        let id = TenantId::parse("crowded").expect("id");
        let page = tollgate::alerts::store::list(&app.state.db.pool, &id, 1).await.expect("alerts");
        let threshold = page.alerts.iter().find(|a| a.label == "80% Threshold").expect("threshold alert");
        assert!(threshold.spend_micros >= 8_000_000 && threshold.max_budget_micros == 10_000_000, "{threshold:?}");
    })
    .await;
}

#[tokio::test]
async fn a_burn_rate_that_reaches_the_budget_before_the_reset_is_projected_once() {
    on_each_backend(|app| async move {
        let key = app.tenant_with_agent("burning", None).await;
        app.set_budget("burning", "100", 80, 110).await;
        report_cost(&app, &key, "early", 10.0).await;
        assert!(alert_kinds(&app, "burning").await.is_empty(), "no projection within the first day");
        app.state.clock.advance(2 * DAY_MS);
        // $11 in 2 of 30 days: $165 at this rate by the reset, over the $100 budget.
        report_cost(&app, &key, "steady", 1.0).await;
        assert_eq!(alert_kinds(&app, "burning").await, ["projected"]);
        report_cost(&app, &key, "more", 1.0).await;
        assert_eq!(alert_kinds(&app, "burning").await, ["projected"], "once per period");
        // The next period starts from zero: nothing carries over.
        app.state.clock.advance(30 * DAY_MS);
        report_cost(&app, &key, "next-period", 0.01).await;
        assert_eq!(alert_kinds(&app, "burning").await, ["projected"]);
    })
    .await;
}

/// A webhook stand-in that answers 500 to its first `failures` requests and records every body.
struct Receiver {
    url: String,
    bodies: Arc<Mutex<Vec<Value>>>,
    requests: Arc<AtomicUsize>,
}

async fn receiver(failures: usize) -> Receiver {
    let bodies = Arc::new(Mutex::new(Vec::new()));
    let requests = Arc::new(AtomicUsize::new(0));
    let (b, r) = (bodies.clone(), requests.clone());
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |axum::Json(body): axum::Json<Value>| {
            let (b, r) = (b.clone(), r.clone());
            async move {
                if r.fetch_add(1, Ordering::SeqCst) < failures {
                    return StatusCode::INTERNAL_SERVER_ERROR;
                }
                b.lock().expect("lock").push(body);
                StatusCode::NO_CONTENT
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}/hook", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    Receiver { url, bodies, requests }
}

fn quick(url: &str) -> WebhookConfig {
    WebhookConfig { first_backoff: Duration::from_millis(10), ..WebhookConfig::new(url) }
}

async fn wait_until(mut done: impl FnMut() -> bool) {
    for _ in 0..100 {
        if done() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("timed out waiting");
}

#[tokio::test]
async fn the_webhook_gets_each_alert_once_despite_failing_its_first_two_deliveries() {
    on_each_backend(|app| async move {
        let hook = receiver(2).await;
        let task = notifier::spawn(app.state.db.clone(), app.state.clock.clone(), quick(&hook.url));
        let key = app.tenant_with_agent("hooked", None).await;
        app.set_budget("hooked", "10", 80, 110).await;
        report_cost(&app, &key, "a", 8.5).await; // threshold
        wait_until(|| !hook.bodies.lock().expect("lock").is_empty()).await;
        report_cost(&app, &key, "b", 2.0).await; // exceeded
        wait_until(|| hook.bodies.lock().expect("lock").len() == 2).await;
        tokio::time::sleep(Duration::from_millis(1500)).await; // a few more polls: nothing else arrives
        task.abort();

        let bodies = hook.bodies.lock().expect("lock").clone();
        assert_eq!(bodies.len(), 2, "{bodies:?}");
        assert_eq!(hook.requests.load(Ordering::SeqCst), 4, "two failures, then one delivery each");
        assert_eq!(
            (bodies[0]["type"].clone(), bodies[0]["label"].clone()),
            ("threshold".into(), "80% Threshold".into())
        );
        assert_eq!(
            (bodies[0]["tenant_id"].clone(), bodies[0]["max_budget_usd"].clone()),
            ("hooked".into(), 10.0.into())
        );
        assert_eq!((bodies[0]["spend_usd"].clone(), bodies[1]["type"].clone()), (8.5.into(), "exceeded".into()));
        let id = TenantId::parse("hooked").expect("id");
        let page = tollgate::alerts::store::list(&app.state.db.pool, &id, 1).await.expect("alerts");
        assert!(page.alerts.iter().all(|a| a.delivered_at.is_some() && a.last_error.is_none()));
        let attempts: Vec<i64> = page.alerts.iter().rev().map(|a| a.attempts).collect();
        assert_eq!(attempts, [3, 1]);
    })
    .await;
}

#[tokio::test]
async fn an_undeliverable_alert_stays_visible_with_its_error() {
    on_each_backend(|app| async move {
        let hook = receiver(usize::MAX).await;
        let task = notifier::spawn(app.state.db.clone(), app.state.clock.clone(), quick(&hook.url));
        let key = app.tenant_with_agent("unheard", None).await;
        app.set_budget("unheard", "1", 50, 150).await;
        assert_eq!(report_cost(&app, &key, "a", 0.6).await, 201, "the report is not held up by the webhook");
        wait_until(|| hook.requests.load(Ordering::SeqCst) >= 4).await;
        // The outcome is recorded after the fourth answer arrives: wait for it (a fixed pause
        // failed once in CI, when a commit on this machine's disk took longer than the pause).
        let id = TenantId::parse("unheard").expect("id");
        let mut page = tollgate::alerts::store::list(&app.state.db.pool, &id, 1).await.expect("alerts");
        for _ in 0..100 {
            if page.alerts.first().is_some_and(|a| a.last_error.is_some()) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
            page = tollgate::alerts::store::list(&app.state.db.pool, &id, 1).await.expect("alerts");
        }
        task.abort();
        assert_eq!(hook.requests.load(Ordering::SeqCst), 4, "no fifth try in the same round");
        let alert = &page.alerts[0];
        assert_eq!(alert.delivered_at, None);
        assert_eq!(alert.attempts, 4, "the first try and three retries");
        assert!(alert.last_error.as_deref().is_some_and(|e| e.contains("500")), "{alert:?}");
    })
    .await;
}

/// A webhook that cannot be reached is recorded and logged by the kind of failure, never with
/// its URL: Slack and Teams URLs carry their secret in the path, and tenant admins see the
/// error in the alert history.
#[tokio::test]
async fn a_failed_delivery_never_shows_the_webhook_url() {
    on_each_backend(|app| async move {
        // Port 1: nothing listens there (a freed ephemeral port could be reused by a test server).
        let url = "http://127.0.0.1:1/services/T000/B000/XSECRETXSECRETXSECRET";
        let task = notifier::spawn(app.state.db.clone(), app.state.clock.clone(), quick(url));
        let key = app.tenant_with_agent("secretive", None).await;
        app.set_budget("secretive", "1", 50, 150).await;
        report_cost(&app, &key, "a", 0.6).await;
        let id = TenantId::parse("secretive").expect("id");
        let mut error = None;
        for _ in 0..100 {
            let page = tollgate::alerts::store::list(&app.state.db.pool, &id, 1).await.expect("alerts");
            error = page.alerts.first().and_then(|a| a.last_error.clone());
            if error.is_some() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        task.abort();
        assert_eq!(error.as_deref(), Some("the webhook could not connect"));
        // And the budget page, which tenant admins read, does not carry it either.
        let (_, overview) = app.server_fn_get("load_budget", "tenant_id=secretive").await;
        assert!(!overview.to_string().contains("XSECRET"), "{overview}");
    })
    .await;
}
