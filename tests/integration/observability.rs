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
