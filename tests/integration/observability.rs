//! `/healthz`, `/readyz` and `/metrics` on both backends.

use crate::common::on_each_backend;
use serde_json::json;

#[tokio::test]
async fn health_readiness_and_metrics() {
    on_each_backend(|app| async move {
        let get = |path: &'static str| app.client.get(app.url(path)).send();
        assert_eq!(get("/healthz").await.expect("healthz").text().await.expect("text"), "ok");
        let ready = get("/readyz").await.expect("readyz");
        assert_eq!(ready.status(), 200);
        assert_eq!(ready.json::<serde_json::Value>().await.expect("json")["status"], "ready");

        let key = app.tenant_with_agent("observed", Some(100)).await;
        app.report(&key, "e1", 150, 0).await;
        assert_eq!(app.check(&key).await.status(), 429);
        assert_eq!(app.check_json(&key, json!({})).await.0, 429);

        let res = get("/metrics").await.expect("metrics");
        assert!(res.headers()["content-type"].to_str().unwrap_or_default().starts_with("text/plain"));
        let text = res.text().await.expect("text");
        for line in [
            r#"tollgate_checks_total{mode="enforce",outcome="refused",limit="token_limit"}"#,
            r#"tollgate_tenant_refusals_total{tenant="observed",outcome="refused",limit="token_limit"}"#,
            r#"tollgate_reports_total{outcome="recorded"}"#,
            "tollgate_report_commit_seconds_bucket",
            "tollgate_report_batch_size_bucket",
            r#"tollgate_http_requests_total{route="/api/agent/usage/check",method="POST",status="4xx"}"#,
        ] {
            assert!(text.contains(line), "/metrics lacks {line}:\n{text}");
        }
        // Raw paths never become labels.
        assert!(!text.contains("route=\"/tenants/observed\""));

        // Every answer carries a request id: the client's own, or a new one.
        let given = app.client.get(app.url("/healthz")).header("x-request-id", "req-42").send().await.expect("healthz");
        assert_eq!(given.headers()["x-request-id"], "req-42");
        let fresh = app.client.get(app.url("/healthz")).send().await.expect("healthz");
        assert_eq!(fresh.headers()["x-request-id"].len(), 36, "a UUID");
    })
    .await;
}

/// Made-up HTTP methods used to become label values, one series each for the life of the
/// process: they are counted as `other`.
#[tokio::test]
async fn made_up_methods_do_not_become_series() {
    on_each_backend(|app| async move {
        for i in 0..30 {
            let method = reqwest::Method::from_bytes(format!("BOGUS{i}").as_bytes()).expect("method");
            app.client.request(method, app.url("/healthz")).send().await.expect("send");
        }
        let text = app.client.get(app.url("/metrics")).send().await.expect("metrics").text().await.expect("text");
        assert!(!text.contains("BOGUS"), "a made-up method became a label");
        assert!(text.contains(r#"method="other""#), "{text}");
    })
    .await;
}

/// `/metrics` names tenants: with a token configured only its holders read it; with a metrics
/// address of its own it is not on the main one.
#[tokio::test]
async fn metrics_are_read_only_with_the_token_or_on_their_own_address() {
    use crate::common::{on_each_backend_with, AppOptions};
    use tollgate::metrics::MetricsAccess;
    let with_token = || AppOptions {
        metrics_access: MetricsAccess { token: Some("scrape-me".into()), own_listener: false },
        ..AppOptions::default()
    };
    on_each_backend_with(with_token, |app| async move {
        let res = app.client.get(app.url("/metrics")).send().await.expect("metrics");
        assert_eq!(res.status(), 401);
        let res = app.client.get(app.url("/metrics")).bearer_auth("guess").send().await.expect("metrics");
        assert_eq!(res.status(), 401);
        let res = app.client.get(app.url("/metrics")).bearer_auth("scrape-me").send().await.expect("metrics");
        assert_eq!(res.status(), 200);
        assert!(res.text().await.expect("text").contains("tollgate_http_requests_total"));
    })
    .await;
    let elsewhere =
        || AppOptions { metrics_access: MetricsAccess { token: None, own_listener: true }, ..AppOptions::default() };
    on_each_backend_with(elsewhere, |app| async move {
        let res = app.client.get(app.url("/metrics")).send().await.expect("metrics");
        assert_eq!(res.status(), 404);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let router = tollgate::api::health::metrics_router(app.state.metrics_access.clone());
        tokio::spawn(tollgate::server::listen::serve(listener, router, std::future::pending()));
        let res = app.client.get(format!("http://{addr}/metrics")).send().await.expect("metrics");
        assert_eq!(res.status(), 200);
    })
    .await;
}
