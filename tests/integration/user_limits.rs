//! Per-user overrides and enforcement modes, on both engines (local on SQLite, shared on
//! PostgreSQL): resolution order, exactness per user under races, monitor and off.

use crate::common::{count_admitted, on_each_backend, spawn_app_with, AppOptions, TestApp, TestDatabase};
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;
use tollgate::limits::EnforcementMode;

async fn check_user(app: &TestApp, key: &str, user: &str, estimated_tokens: u64) -> (u16, Value) {
    app.check_json(key, json!({"user_id": user, "estimated_tokens": estimated_tokens})).await
}

/// A user with an override is held to it and to the tenant's limit; a user without one
/// shares the tenant's total; removing the override makes the user share it again.
#[tokio::test]
async fn an_override_and_the_tenant_limit_both_hold() {
    on_each_backend(|app| async move {
        let key = app.tenant_with_agent("resolve", Some(1_000)).await;
        app.set_user_limit("resolve", "ann", Some(100)).await;
        app.report_for(&key, "a1", "ann", 100).await;

        let (status, body) = check_user(&app, &key, "ann", 0).await;
        assert_eq!(status, 429, "{body}");
        assert_eq!(body["limit"], "user_token_limit");
        assert_eq!(body["error"], "user_token_limit_exceeded");
        assert_eq!((body["user_id"].clone(), body["user_used_tokens"].clone()), ("ann".into(), 100.into()));
        assert_eq!(body["user_token_limit"], 100);
        assert!(body["message"].as_str().unwrap_or_default().contains("User ann"), "{body}");
        // Bob has no override: he shares the tenant's 1,000 (100 used by ann).
        let (status, body) = check_user(&app, &key, "bob", 900).await;
        assert_eq!(status, 200, "{body}");
        assert!(body.get("user_token_limit").is_none(), "no override, no user figures: {body}");
        assert_eq!(check_user(&app, &key, "bob", 1).await.0, 429, "900 of bob's reserved fill the tenant");
        // A check without a user is the tenant's rule.
        assert_eq!(app.check(&key).await.status(), 200);

        // Raise ann's override above what she used: now the tenant's limit refuses her.
        app.set_user_limit("resolve", "ann", Some(5_000)).await;
        app.report_for(&key, "b1", "bob", 900).await;
        let (status, body) = check_user(&app, &key, "ann", 0).await;
        assert_eq!((status, body["limit"].clone()), (429, "token_limit".into()), "the tenant's limit still holds");

        // Without her override ann is refused by the tenant total too; the status agrees.
        app.set_user_limit("resolve", "ann", None).await;
        assert_eq!(check_user(&app, &key, "ann", 0).await.1["limit"], "token_limit");
        let status = app.status(&key).await;
        assert_eq!((status["used_tokens"].clone(), status["total_tokens"].clone()), (1_000.into(), 1_000.into()));
    })
    .await;
}

/// 64 concurrent checks of one user with an override of k × e: exactly k are admitted, while
/// another user of the same tenant (no override) is admitted every time.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn exactly_k_of_64_concurrent_checks_of_one_user_are_admitted() {
    on_each_backend(|app| async move {
        let app = Arc::new(app);
        for round in 0..8u64 {
            let (k, e) = (1 + round * 7 % 30, 50 + round * 41);
            let tenant = format!("per-user-{round}");
            let key = app.tenant_with_agent(&tenant, Some(1 << 40)).await;
            app.set_user_limit(&tenant, "ann", Some(k * e)).await;
            let spawn = |user: &'static str| {
                let (app, key) = (app.clone(), key.clone());
                tokio::spawn(async move { check_user(&app, &key, user, e).await.0 })
            };
            let (ann, bob): (Vec<_>, Vec<_>) = (0..64).map(|_| (spawn("ann"), spawn("bob"))).unzip();
            assert_eq!(count_admitted(ann).await, k, "round {round}: ann's override {} = {k} × {e}", k * e);
            assert_eq!(count_admitted(bob).await, 64, "round {round}: bob shares the tenant's large limit");
        }
    })
    .await;
}

/// A user's reservation is settled by the report that names it, with the actual usage.
#[tokio::test]
async fn a_report_settles_the_users_reservation() {
    on_each_backend(|app| async move {
        let key = app.tenant_with_agent("settle-user", None).await;
        app.set_user_limit("settle-user", "ann", Some(500)).await;
        let (status, body) = check_user(&app, &key, "ann", 300).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(
            (body["user_reserved_tokens"].clone(), body["user_remaining_tokens"].clone()),
            (300.into(), 200.into())
        );
        assert_eq!(check_user(&app, &key, "ann", 201).await.0, 429);
        let reservation = body["reservation_id"].as_str().expect("reservation").to_owned();
        let report = json!({"event_id": "r1", "model": "gpt-4o", "input_tokens": 150, "output_tokens": 50,
                            "user_id": "ann", "reservation_id": reservation});
        assert_eq!(app.agent_post("/api/agent/usage/report", &key, &report.to_string()).await.status(), 201);
        let (status, body) = check_user(&app, &key, "ann", 300).await;
        assert_eq!(status, 200, "200 used + 300 fits 500 exactly: {body}");
        assert_eq!((body["user_used_tokens"].clone(), body["user_reserved_tokens"].clone()), (200.into(), 300.into()));
        assert_eq!(check_user(&app, &key, "ann", 1).await.0, 429);
    })
    .await;
}

/// Monitor never refuses but names and counts what enforce would have refused; enforce then
/// refuses; off records and decides nothing.
#[tokio::test]
async fn monitor_counts_what_enforce_refuses_and_off_only_records() {
    on_each_backend(|app| async move {
        let key = app.tenant_with_agent("modes", Some(100)).await;
        app.report(&key, "over", 150, 0).await;
        app.set_mode("modes", Some(EnforcementMode::Monitor)).await;
        for _ in 0..3 {
            let (status, body) = app.check_json(&key, json!({"estimated_tokens": 10})).await;
            assert_eq!(status, 200, "{body}");
            assert_eq!((body["mode"].clone(), body["would_refuse"].clone()), ("monitor".into(), "token_limit".into()));
            assert!(body.get("reservation_id").is_none(), "what enforce refuses holds nothing: {body}");
        }
        // Counted by the writer (local) or at once (shared).
        let mut counted = Value::Null;
        for _ in 0..50 {
            counted = app.status(&key).await["would_refuse_count"].clone();
            if counted == 3 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(counted, 3);
        assert_eq!(app.status(&key).await["mode"], "monitor");

        app.set_mode("modes", Some(EnforcementMode::Enforce)).await;
        assert_eq!(app.check(&key).await.status(), 429);

        app.set_mode("modes", Some(EnforcementMode::Off)).await;
        let (status, body) = app.check_json(&key, json!({"estimated_tokens": 10})).await;
        assert_eq!(status, 200, "{body}");
        assert!(body.get("reservation_id").is_none() && body.get("would_refuse").is_none(), "{body}");
        app.report(&key, "while-off", 10, 0).await;
        let status = app.status(&key).await;
        assert_eq!((status["used_tokens"].clone(), status["would_refuse_count"].clone()), (160.into(), 3.into()));
    })
    .await;
}

/// Tenants without a mode of their own follow the server's `--enforcement-mode`.
#[tokio::test]
async fn the_server_default_mode_applies_to_tenants_without_one() {
    let mut databases = vec![TestDatabase::sqlite()];
    databases.extend(TestDatabase::postgres().await);
    for db in databases {
        let options = AppOptions { default_mode: EnforcementMode::Monitor, ..AppOptions::default() };
        let app = spawn_app_with(&db, options).await;
        let key = app.tenant_with_agent("default-mode", Some(10)).await;
        app.report(&key, "e", 10, 0).await;
        let (status, body) = app.check_json(&key, json!({})).await;
        assert_eq!((status, body["would_refuse"].clone()), (200, "token_limit".into()), "{body}");
        app.set_mode("default-mode", Some(EnforcementMode::Enforce)).await;
        assert_eq!(app.check(&key).await.status(), 429, "the tenant's own mode wins");
        db.cleanup().await;
    }
}

/// The tenant page shows the mode, "would have blocked" in monitor mode, and each override
/// with the user's usage, rendered on the server.
#[tokio::test]
async fn the_tenant_page_shows_mode_would_refuse_and_overrides() {
    on_each_backend(|app| async move {
        let key = app.tenant_with_agent("paged", Some(100)).await;
        app.set_user_limit("paged", "ann", Some(40)).await;
        app.report_for(&key, "e1", "ann", 30).await;
        app.report(&key, "e2", 90, 0).await;
        let page = |app: &TestApp| {
            let req = app.admin.get(app.url("/tenants/paged")).send();
            async move { req.await.expect("page").text().await.expect("html") }
        };
        let html = page(&app).await;
        assert!(html.contains("Enforcement mode: <strong>Enforce</strong>"), "{html}");
        assert!(html.contains("the server&#x27;s default") || html.contains("the server's default"), "{html}");
        assert!(!html.contains("Would have blocked"));
        assert!(html.contains("User overrides") && html.contains(">ann<"), "{html}");
        assert!(html.contains(">30<") && html.contains(">40<") && html.contains("75.0%"), "ann: 30 of 40");

        app.set_mode("paged", Some(EnforcementMode::Monitor)).await;
        for _ in 0..2 {
            assert_eq!(app.check(&key).await.status(), 200);
        }
        let mut html = String::new();
        for _ in 0..50 {
            html = page(&app).await;
            if html.contains("Would have blocked 2 calls this period.") {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(html.contains("Would have blocked 2 calls this period."), "{html}");
        assert!(html.contains("Monitor (never refuse)"));
    })
    .await;
}

/// A bad `user_id` is a 422 naming the field, in a check and in a report, and changes nothing.
#[tokio::test]
async fn bad_user_ids_are_422() {
    on_each_backend(|app| async move {
        let key = app.tenant_with_agent("bad-users", Some(100)).await;
        let long = "u".repeat(129);
        for user in ["", "   ", "a\u{7}b", long.as_str()] {
            let (status, body) = app.check_json(&key, json!({"user_id": user, "estimated_tokens": 5})).await;
            assert_eq!((status, body["field"].clone()), (422, "user_id".into()), "{user:?}: {body}");
            let report = json!({"event_id": "x", "model": "m", "input_tokens": 1, "output_tokens": 1, "user_id": user});
            let res = app.agent_post("/api/agent/usage/report", &key, &report.to_string()).await;
            assert_eq!(res.status(), 422, "{user:?}");
        }
        let (status, body) = app.check_json(&key, json!({"user_id": 7})).await;
        assert_eq!((status, body["field"].clone()), (422, "user_id".into()), "{body}");
        let status = app.status(&key).await;
        assert_eq!((status["used_tokens"].clone(), status["reserved_tokens"].clone()), (0.into(), 0.into()));
    })
    .await;
}

/// Overrides were unbounded per tenant (all held in memory, re-read every 5 s, listed whole):
/// a tenant has at most `MAX_OVERRIDES_PER_TENANT`. A new one beyond is 409 and changes
/// nothing; changing or removing an existing one still works.
#[tokio::test]
async fn overrides_per_tenant_are_capped() {
    use tollgate::overrides::MAX_OVERRIDES_PER_TENANT;
    on_each_backend(|app| async move {
        app.tenant_with_agent("crowded", None).await;
        // All but one directly (as the store would write them), the last through the console.
        sqlx::query(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $1)
             INSERT INTO user_limits (tenant_id, user_id, token_limit, created_at, updated_at)
             SELECT 'crowded', 'user-' || i, 100, 0, 0 FROM n",
        )
        .bind(MAX_OVERRIDES_PER_TENANT as i64 - 1)
        .execute(&app.state.db.pool)
        .await
        .expect("fill");
        let set = |user: &'static str, limit: &'static str| {
            let args = [("tenant_id", "crowded"), ("user_id", user), ("token_limit", limit)];
            let app = &app;
            async move { app.server_fn("set_user_override", &args).await }
        };
        assert_eq!(set("last", "100").await.0, 200);
        let (status, body) = set("one-too-many", "100").await;
        assert_eq!((status, body["field"].as_str()), (409, Some("user_id")), "{body}");
        assert!(body["message"].as_str().is_some_and(|m| m.contains("1000")), "{body}");
        assert_eq!(set("last", "200").await.0, 200, "an existing override still changes");
        let (count,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM user_limits WHERE tenant_id = 'crowded'")
            .fetch_one(&app.state.db.pool)
            .await
            .expect("count");
        assert_eq!(count as usize, MAX_OVERRIDES_PER_TENANT);
    })
    .await;
}
