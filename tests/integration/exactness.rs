//! Exact admission with reservations, on both engines (local on SQLite, shared on PostgreSQL).

use crate::common::{count_admitted, on_each_backend, TestApp, RESERVATION_TTL_MS};
use serde_json::{json, Value};
use std::sync::Arc;

async fn check_with(app: &TestApp, key: &str, estimated_tokens: i64) -> (u16, Value) {
    let res = app
        .agent_post("/api/agent/usage/check", key, &json!({ "estimated_tokens": estimated_tokens }).to_string())
        .await;
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

/// A tenant with limit exactly k × e; 64 concurrent checks of estimate e: exactly k are
/// admitted, every round.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn exactly_k_of_64_concurrent_checks_are_admitted() {
    on_each_backend(|app| async move {
        let app = Arc::new(app);
        for round in 0..25u64 {
            let (k, e) = (1 + round * 5 % 40, 100 + round * 37);
            let key = app.tenant_with_agent(&format!("exact-{round}"), Some(k * e)).await;
            let tasks: Vec<_> = (0..64)
                .map(|_| {
                    let (app, key) = (app.clone(), key.clone());
                    tokio::spawn(async move { check_with(&app, &key, e as i64).await.0 })
                })
                .collect();
            let admitted = count_admitted(tasks).await;
            assert_eq!(admitted, k, "round {round}: limit {} = {k} × {e}", k * e);
        }
    })
    .await;
}

#[tokio::test]
async fn a_report_settles_its_reservation_with_the_actual_usage() {
    on_each_backend(|app| async move {
        let key = app.tenant_with_agent("settle", Some(1000)).await;
        let (status, body) = check_with(&app, &key, 500).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!((body["reserved_tokens"].clone(), body["remaining_tokens"].clone()), (500.into(), 500.into()));
        let reservation = body["reservation_id"].as_str().expect("reservation id").to_owned();
        assert!(reservation.starts_with("rsv_"));
        assert_eq!(check_with(&app, &key, 501).await.0, 429, "500 reserved + 501 > 1000");

        // The console shows the reservation beside the usage.
        let (_, page) = app.server_fn_get("list_usage", "query[q]=settle&query[sort]=tenant_id&query[desc]=false&query[page]=1").await;
        assert_eq!(page["rows"][0]["reserved_tokens"], 500);

        let report = json!({"event_id": "call-1", "model": "gpt-4o", "input_tokens": 200, "output_tokens": 100, "reservation_id": reservation});
        let res = app.agent_post("/api/agent/usage/report", &key, &report.to_string()).await;
        assert_eq!(res.status(), 201);
        let status = app.status(&key).await;
        assert_eq!((status["total_tokens"].clone(), status["reserved_tokens"].clone()), (300.into(), 0.into()));
        let (status, body) = check_with(&app, &key, 700).await;
        assert_eq!((status, body["used_tokens"].clone()), (200, 300.into()), "300 used + 700 fits exactly");
        assert_eq!(check_with(&app, &key, 1).await.0, 429);
        // Without an estimate the check is the plain token rule: 300 used < 1000.
        assert_eq!(app.check(&key).await.status(), 200);
    })
    .await;
}

#[tokio::test]
async fn unsettled_reservations_expire() {
    on_each_backend(|app| async move {
        let key = app.tenant_with_agent("expiring", Some(100)).await;
        assert_eq!(check_with(&app, &key, 100).await.0, 200);
        assert_eq!(check_with(&app, &key, 1).await.0, 429);
        app.state.clock.advance(RESERVATION_TTL_MS);
        // The upkeep task releases expired reservations every second (shared mode relies on it).
        let mut admitted = false;
        for _ in 0..30 {
            if check_with(&app, &key, 100).await.0 == 200 {
                admitted = true;
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        assert!(admitted, "the expired reservation was released");
        assert_eq!(app.status(&key).await["reserved_tokens"], 100, "only the new reservation is held");
    })
    .await;
}

#[tokio::test]
async fn a_replay_returns_the_original_result() {
    on_each_backend(|app| async move {
        let key = app.tenant_with_agent("replay", Some(10_000)).await;
        let first: Value = app.report(&key, "once", 100, 20).await.json().await.expect("json");
        app.report(&key, "later", 1000, 0).await;
        let res = app.report(&key, "once", 100, 20).await;
        assert_eq!(res.status(), 200);
        let replay: Value = res.json().await.expect("json");
        assert_eq!(replay["recorded"], false);
        assert_eq!(replay["replayed"], true);
        for field in ["event_id", "used_tokens", "remaining_tokens", "cost_usd", "resets_at", "token_limit"] {
            assert_eq!(replay[field], first[field], "{field}");
        }
        assert_eq!(replay["used_tokens"], 120, "as answered the first time, not today's 1120");
    })
    .await;
}

#[tokio::test]
async fn bad_estimates_are_422() {
    on_each_backend(|app| async move {
        let key = app.tenant_with_agent("estimates", Some(100)).await;
        for body in [
            r#"{"estimated_tokens":-1}"#,
            r#"{"estimated_tokens":1.5}"#,
            r#"{"estimated_tokens":"9"}"#,
            r#"{"estimated_tokens":300000000}"#,
        ] {
            let res = app.agent_post("/api/agent/usage/check", &key, body).await;
            assert_eq!(res.status(), 422, "{body}");
            let json: Value = res.json().await.expect("json");
            assert_eq!(json["field"], "estimated_tokens");
        }
        assert_eq!(app.status(&key).await["reserved_tokens"], 0);
    })
    .await;
}

/// A limit change made in the console applies to the very next check (local mode caches it).
#[tokio::test]
async fn a_changed_limit_applies_to_the_next_check() {
    on_each_backend(|app| async move {
        let key = app.tenant_with_agent("changing", Some(100)).await;
        app.report(&key, "e", 150, 0).await;
        assert_eq!(app.check(&key).await.status(), 429);
        let (status, _) = app.server_fn("set_token_limit", &[("tenant_id", "changing"), ("token_limit", "1000")]).await;
        assert_eq!(status, 200);
        assert_eq!(app.check(&key).await.status(), 200);
        assert_eq!(check_with(&app, &key, 851).await.0, 429);
        assert_eq!(check_with(&app, &key, 850).await.0, 200);
    })
    .await;
}

/// An agent that checks with estimates and never reports held a reservation per check for the
/// whole TTL, without bound. A tenant holds at most `MAX_OPEN_RESERVATIONS` at once: the next
/// reserving check is refused (`open_reservations`, `Retry-After: 1`), a plain check is not, and
/// a report settling one frees a place.
#[tokio::test]
async fn open_reservations_per_tenant_are_capped() {
    use tollgate::limits::policy::MAX_OPEN_RESERVATIONS;
    on_each_backend(|app| async move {
        let key = app.tenant_with_agent("hoarder", Some(1 << 40)).await;
        // One reservation through the API, then the tenant is filled to the cap quickly: in
        // the local engine through the gate itself (in memory), in the shared one with the rows
        // and counter its admissions write.
        let (status, first) = check_with(&app, &key, 1).await;
        assert_eq!(status, 200);
        let first = first["reservation_id"].as_str().expect("reserved").to_owned();
        let agent = app.state.gate.authenticate(&key).await.expect("agent");
        match app.state.db.backend {
            tollgate::db::Backend::Sqlite => {
                for _ in 1..MAX_OPEN_RESERVATIONS {
                    let call = tollgate::enforce::Call { estimated_tokens: 1, ..Default::default() };
                    assert!(app.state.gate.admit(&agent, call).await.expect("admit").reservation.is_some());
                }
            }
            tollgate::db::Backend::Postgres => {
                let pool = &app.state.db.pool;
                let (start,): (i64,) =
                    sqlx::query_as("SELECT period_start FROM reservations WHERE id = $1").bind(&first).fetch_one(pool).await.expect("first");
                let expires = app.state.clock.now_ms() + RESERVATION_TTL_MS;
                sqlx::query(
                    "INSERT INTO reservations (id, tenant_id, period_start, tokens, expires_at)
                     SELECT 'rsv_fill' || n, 'hoarder', $1, 1, $2 FROM generate_series(2, $3) AS n",
                )
                .bind(start)
                .bind(expires)
                .bind(MAX_OPEN_RESERVATIONS as i64)
                .execute(pool)
                .await
                .expect("fill");
                sqlx::query("UPDATE usage_counters SET reserved_tokens = $2, open_reservations = $2 WHERE tenant_id = 'hoarder' AND period_start = $1")
                    .bind(start)
                    .bind(MAX_OPEN_RESERVATIONS as i64)
                    .execute(pool)
                    .await
                    .expect("counter");
            }
        }
        let ids = [first];
        let res = app.agent_post("/api/agent/usage/check", &key, &json!({"estimated_tokens": 1}).to_string()).await;
        assert_eq!(res.status(), 429);
        assert_eq!(res.headers()["retry-after"], "1");
        let body: Value = res.json().await.expect("json");
        assert_eq!((body["limit"].clone(), body["error"].clone()), ("open_reservations".into(), "too_many_open_reservations".into()));
        assert_eq!(app.check(&key).await.status(), 200, "a plain check reserves nothing and passes");
        let report = json!({"event_id": "one", "model": "m", "input_tokens": 1, "output_tokens": 0, "reservation_id": ids[0]});
        assert_eq!(app.agent_post("/api/agent/usage/report", &key, &report.to_string()).await.status(), 201);
        assert_eq!(check_with(&app, &key, 1).await.0, 200, "the settled reservation's place is free again");
        assert_eq!(check_with(&app, &key, 1).await.0, 429);
    })
    .await;
}
