//! The automation API (`/api/client/usage/*`) with personal API tokens, on both backends:
//! the authorisation matrix for tokens of each role, tokens shown once / hashed / revocable,
//! limits and overrides changed through it reaching the gate at once, errors naming the field,
//! history paged by cursor against a model of the events, and the OpenAPI document.

use crate::common::{client, on_each_backend, TestApp};
use reqwest::{Client, Method};
use serde_json::{json, Value};
use tollgate::auth::Role;

/// Tenants `a` and `b`, a tenant admin of each and the system admin, each with a token.
struct World {
    app: TestApp,
    key_a: String,
    admin_a: Client,
    token_a: String,
    token_b: String,
    token_root: String,
}

async fn world(app: TestApp) -> World {
    let key_a = app.tenant_with_agent("a", Some(1_000_000)).await;
    app.tenant_with_agent("b", Some(1_000_000)).await;
    app.add_user("admin-a", "password-of-a", Role::TenantAdmin { tenant_id: "a".into() }).await;
    app.add_user("admin-b", "password-of-b", Role::TenantAdmin { tenant_id: "b".into() }).await;
    let admin_a = app.signed_in("admin-a", "password-of-a").await;
    let admin_b = app.signed_in("admin-b", "password-of-b").await;
    let token_a = app.api_token_of(&admin_a, "a's script").await;
    let token_b = app.api_token_of(&admin_b, "b's script").await;
    let token_root = app.api_token_of(&app.admin, "root's script").await;
    World { app, key_a, admin_a, token_a, token_b, token_root }
}

impl World {
    /// Asserts the status as: nobody, agent key of A, token of admin A, token of admin B,
    /// token of the system admin.
    async fn expect(&self, method: Method, path: &str, body: Option<Value>, expected: [u16; 5]) {
        let who: [Option<&str>; 5] =
            [None, Some(&self.key_a), Some(&self.token_a), Some(&self.token_b), Some(&self.token_root)];
        let names = ["nobody", "agent key", "admin A", "admin B", "system admin"];
        for ((bearer, want), name) in who.into_iter().zip(expected).zip(names) {
            let (got, answer) = self.app.call(bearer, method.clone(), path, body.clone()).await;
            assert_eq!(got, want, "{method} {path} as {name}: {answer}");
            if got >= 400 {
                assert!(answer["error"].is_string() && answer["message"].is_string(), "error shape: {answer}");
            }
        }
    }
}

#[tokio::test]
async fn automation_api_authorisation_matrix() {
    on_each_backend(|app| async move {
        let w = world(app).await;
        let (get, put, post, delete) = (Method::GET, Method::PUT, Method::POST, Method::DELETE);
        w.expect(get.clone(), "/api/client/usage/status?tenant_id=a", None, [401, 401, 200, 404, 200]).await;
        w.expect(get.clone(), "/api/client/usage/status", None, [401, 401, 200, 200, 422]).await;
        w.expect(get.clone(), "/api/client/usage/status?tenant_id=nobody", None, [401, 401, 404, 404, 404]).await;
        w.expect(get.clone(), "/api/client/usage/limits", None, [401, 401, 200, 200, 200]).await;
        w.expect(get.clone(), "/api/client/usage/limits/a", None, [401, 401, 200, 404, 200]).await;
        // A tenant's own limit and mode are the system admin's.
        let mode = Some(json!({"mode": "monitor"}));
        w.expect(put.clone(), "/api/client/usage/limits/a", mode, [401, 401, 403, 404, 200]).await;
        w.expect(delete.clone(), "/api/client/usage/limits/a", None, [401, 401, 403, 404, 204]).await;
        // The budget is the tenant admin's too, as on the budget page; with a limit it is refused
        // whole.
        let budget = Some(json!({"budget": {"max_budget_usd": 25.5}}));
        w.expect(put.clone(), "/api/client/usage/limits/a", budget, [401, 401, 200, 404, 200]).await;
        let both = Some(json!({"token_limit": 5, "budget": {"max_budget_usd": 99}}));
        w.expect(put.clone(), "/api/client/usage/limits/a", both, [401, 401, 403, 404, 200]).await;
        let (_, limits) = w.app.call(Some(&w.token_a), Method::GET, "/api/client/usage/limits/a", None).await;
        assert_eq!(
            (limits["token_limit"].clone(), limits["budget"]["max_budget_usd"].clone()),
            (5.into(), 99.0.into())
        );
        let no_budget = Some(json!({"budget": null, "token_limit": null}));
        w.expect(put.clone(), "/api/client/usage/limits/a", no_budget, [401, 401, 403, 404, 200]).await;
        // Overrides: a tenant admin manages their own tenant's.
        let ann = "/api/client/usage/limits/a/users/ann";
        w.expect(put.clone(), ann, Some(json!({"token_limit": 50})), [401, 401, 201, 404, 200]).await;
        w.expect(get.clone(), ann, None, [401, 401, 200, 404, 200]).await;
        let bob = Some(json!({"user_id": "bob", "token_limit": 5}));
        w.expect(post.clone(), "/api/client/usage/limits/a/users", bob, [401, 401, 201, 404, 409]).await;
        let bob = "/api/client/usage/limits/a/users/bob";
        w.expect(delete.clone(), bob, None, [401, 401, 204, 404, 404]).await;
        w.expect(get.clone(), "/api/client/usage/history?tenant_id=a", None, [401, 401, 200, 404, 200]).await;
        w.expect(get.clone(), "/api/client/usage/history", None, [401, 401, 200, 200, 422]).await;
        w.expect(get.clone(), "/api/openapi.json", None, [200, 200, 200, 200, 200]).await;
        // The agent API takes agent keys only, never a personal token.
        w.expect(get.clone(), "/api/agent/usage/status", None, [401, 200, 401, 401, 401]).await;

        // A console session is not a credential for the automation API.
        let (status, _) = {
            let res = w.admin_a.get(w.app.url("/api/client/usage/status")).send().await.expect("send");
            (res.status().as_u16(), ())
        };
        assert_eq!(status, 401);
        // A tenant admin sees only their tenant in the list.
        let (_, list) = w.app.call(Some(&w.token_a), Method::GET, "/api/client/usage/limits", None).await;
        let ids: Vec<&str> =
            list["tenants"].as_array().expect("tenants").iter().filter_map(|t| t["tenant_id"].as_str()).collect();
        assert_eq!(ids, ["a"]);
        let (_, list) = w.app.call(Some(&w.token_root), Method::GET, "/api/client/usage/limits", None).await;
        assert_eq!(list["total"], 2);
        assert_eq!(list["tenants"][0]["override_count"], 1, "{list}");
        assert_eq!(list["tenants"][0]["mode_setting"], "monitor", "{list}");
    })
    .await;
}

#[tokio::test]
async fn tokens_are_shown_once_stored_hashed_and_revocable() {
    on_each_backend(|app| async move {
        let token = app.api_token_of(&app.admin, "nightly report").await;
        assert!(token.starts_with("tgp_") && token.len() == 44, "{token}");
        let (status, _) = app.call(Some(&token), Method::GET, "/api/client/usage/limits", None).await;
        assert_eq!(status, 200);

        let (status, list) = app.server_fn_get("list_api_tokens", "").await;
        assert_eq!(status, 200);
        let listed = &list[0];
        assert_eq!(listed["name"], "nightly report");
        assert!(token.starts_with(listed["token_prefix"].as_str().expect("prefix")));
        assert!(!list.to_string().contains(&token), "the list never shows the token: {list}");
        assert!(listed["last_used_at"].is_i64(), "use is noted: {listed}");
        let stored: Vec<String> =
            sqlx::query_scalar("SELECT token_hash FROM api_tokens").fetch_all(&app.state.db.pool).await.expect("rows");
        assert_eq!(stored.len(), 1);
        assert_ne!(stored[0], token);
        assert!(!stored[0].contains(&token[4..]), "only a hash is stored");

        // Another user cannot revoke it; its owner can, and it stops working at once.
        let id = listed["token_id"].to_string();
        app.tenant_with_agent("x", None).await;
        app.add_user("admin-x", "password-of-x", Role::TenantAdmin { tenant_id: "x".into() }).await;
        let other = app.signed_in("admin-x", "password-of-x").await;
        assert_eq!(app.server_fn_as(&other, "revoke_api_token", &[("token_id", &id)]).await.0, 404);
        assert_eq!(app.call(Some(&token), Method::GET, "/api/client/usage/limits", None).await.0, 200);
        assert_eq!(app.server_fn("revoke_api_token", &[("token_id", &id)]).await.0, 200);
        let (status, body) = app.call(Some(&token), Method::GET, "/api/client/usage/limits", None).await;
        assert_eq!((status, body["message"].clone()), (401, "Invalid or revoked API token".into()));
        assert_eq!(app.server_fn("revoke_api_token", &[("token_id", &id)]).await.0, 404, "revoked once");
        let (_, list) = app.server_fn_get("list_api_tokens", "").await;
        assert!(list[0]["revoked_at"].is_i64());
        // Both are in the audit log, with the prefix, never the token.
        let (_, audit) = app.server_fn_get("list_audit", "tenant_id=").await;
        let text = audit.to_string();
        assert!(text.contains("api_token_created") && text.contains("api_token_revoked"), "{text}");
        assert!(!text.contains(&token));
        // Names are checked where they are typed.
        let (status, err) = app.server_fn("create_api_token", &[("name", "  ")]).await;
        assert_eq!((status, err["field"].clone()), (422, "name".into()));
        // Nobody signed in cannot create one.
        assert_eq!(app.server_fn_as(&client(), "create_api_token", &[("name", "x")]).await.0, 401);
    })
    .await;
}

/// An override and a mode set through the API apply to the next check, with no restart.
#[tokio::test]
async fn changes_through_the_api_apply_to_the_next_check() {
    on_each_backend(|app| async move {
        let key = app.tenant_with_agent("acme", Some(10_000)).await;
        let root = app.api_token_of(&app.admin, "ops").await;
        let (status, o) = app
            .call(
                Some(&root),
                Method::PUT,
                "/api/client/usage/limits/acme/users/ann",
                Some(json!({"token_limit": 100})),
            )
            .await;
        assert_eq!((status, o["token_limit"].clone(), o["used_tokens"].clone()), (201, 100.into(), 0.into()), "{o}");
        app.report_for(&key, "e1", "ann", 100).await;
        assert_eq!(app.check_json(&key, json!({"user_id": "ann"})).await.0, 429, "ann is at her override");
        assert_eq!(app.check_json(&key, json!({"user_id": "bob"})).await.0, 200, "bob shares the tenant's 10,000");

        // Monitor: ann passes, and the would-have-blocked count shows in the API's status.
        let (status, limits) =
            app.call(Some(&root), Method::PUT, "/api/client/usage/limits/acme", Some(json!({"mode": "monitor"}))).await;
        assert_eq!(
            (status, limits["mode"].clone(), limits["mode_setting"].clone()),
            (200, "monitor".into(), "monitor".into())
        );
        let (status, body) = app.check_json(&key, json!({"user_id": "ann"})).await;
        assert_eq!((status, body["would_refuse"].clone()), (200, "user_token_limit".into()), "{body}");
        let mut seen = None;
        for _ in 0..50 {
            let (_, s) = app.call(Some(&root), Method::GET, "/api/client/usage/status?tenant_id=acme", None).await;
            seen = s["would_refuse_count"].as_i64();
            if seen == Some(1) {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        assert_eq!(seen, Some(1));
        // Back to the server's default (enforce): refused again. Then the limit and the override go.
        let (status, _) =
            app.call(Some(&root), Method::PUT, "/api/client/usage/limits/acme", Some(json!({"mode": "default"}))).await;
        assert_eq!(status, 200);
        assert_eq!(app.check_json(&key, json!({"user_id": "ann"})).await.0, 429);
        let (status, limits) =
            app.call(Some(&root), Method::PUT, "/api/client/usage/limits/acme", Some(json!({"token_limit": 50}))).await;
        assert_eq!((status, limits["token_limit"].clone()), (200, 50.into()));
        assert_eq!(app.check_json(&key, json!({"user_id": "bob"})).await.0, 429, "the tenant's 50 are used");
        assert_eq!(app.call(Some(&root), Method::DELETE, "/api/client/usage/limits/acme", None).await.0, 204);
        assert_eq!(app.call(Some(&root), Method::DELETE, "/api/client/usage/limits/acme/users/ann", None).await.0, 204);
        assert_eq!(app.check_json(&key, json!({"user_id": "ann"})).await.0, 200, "no limits left");
        let (_, limits) = app.call(Some(&root), Method::GET, "/api/client/usage/limits/acme", None).await;
        assert_eq!((limits["token_limit"].clone(), limits["overrides"].clone()), (Value::Null, json!([])));
        // Each change is audited under the token's user.
        let (_, audit) = app.server_fn_get("list_audit", "tenant_id=acme").await;
        let actions: Vec<&str> =
            audit["entries"].as_array().expect("entries").iter().filter_map(|e| e["action"].as_str()).collect();
        for action in ["user_override_set", "enforcement_mode_changed", "token_limit_changed", "user_override_removed"]
        {
            assert!(actions.contains(&action), "{action} in {actions:?}");
        }
        assert!(audit["entries"]
            .as_array()
            .expect("entries")
            .iter()
            .all(|e| e["actor"] != "test" || e["action"] == "tenant_created" || e["action"] == "agent_deployed"));
    })
    .await;
}

/// Racing creations of the same user's override: exactly one is created (201), every other
/// is a 409, the stored limit is the winner's, and one audit entry records it.
#[tokio::test]
async fn racing_creations_of_one_override_create_it_once() {
    on_each_backend(|app| async move {
        app.tenant_with_agent("acme", Some(10_000)).await;
        let root = app.api_token_of(&app.admin, "ops").await;
        let app = std::sync::Arc::new(app);
        let tasks: Vec<_> = (1..=16)
            .map(|n| {
                let (app, root) = (app.clone(), root.clone());
                tokio::spawn(async move {
                    let body = json!({"user_id": "ann", "token_limit": n * 100});
                    let (status, answer) =
                        app.call(Some(&root), Method::POST, "/api/client/usage/limits/acme/users", Some(body)).await;
                    (n * 100, status, answer)
                })
            })
            .collect();
        let mut answers = Vec::new();
        for task in tasks {
            answers.push(task.await.expect("task"));
        }
        let created: Vec<_> = answers.iter().filter(|(_, status, _)| *status == 201).collect();
        assert_eq!(created.len(), 1, "{answers:?}");
        assert!(
            answers.iter().all(|(_, status, a)| *status == 201 || (*status == 409 && a["field"] == "user_id")),
            "{answers:?}"
        );
        let winner = created[0].0;
        let (_, o) = app.call(Some(&root), Method::GET, "/api/client/usage/limits/acme/users/ann", None).await;
        assert_eq!(o["token_limit"], winner, "{o}");
        let (_, audit) = app.server_fn_get("list_audit", "tenant_id=acme").await;
        let sets =
            audit["entries"].as_array().expect("entries").iter().filter(|e| e["action"] == "user_override_set").count();
        assert_eq!(sets, 1);
    })
    .await;
}

/// Every bad input is a 400 or 422 naming the field, and changes nothing.
#[tokio::test]
async fn bad_input_names_the_field_and_changes_nothing() {
    on_each_backend(|app| async move {
        app.tenant_with_agent("acme", Some(1_000)).await;
        let root = app.api_token_of(&app.admin, "ops").await;
        let cases: Vec<(Method, &str, Option<Value>, u16, &str)> = vec![
            (Method::PUT, "/api/client/usage/limits/acme", Some(json!({"token_limit": -1})), 422, "token_limit"),
            (Method::PUT, "/api/client/usage/limits/acme", Some(json!({"token_limit": 0})), 422, "token_limit"),
            (Method::PUT, "/api/client/usage/limits/acme", Some(json!({"token_limit": "5"})), 422, "token_limit"),
            (
                Method::PUT,
                "/api/client/usage/limits/acme",
                Some(json!({"token_limit": 5, "mode": "loud"})),
                422,
                "mode",
            ),
            (Method::PUT, "/api/client/usage/limits/acme", Some(json!({"limit": 5})), 422, "limit"),
            (Method::PUT, "/api/client/usage/limits/acme", Some(json!({"budget": {}})), 422, "budget.max_budget_usd"),
            (Method::PUT, "/api/client/usage/limits/acme", Some(json!({"budget": 5})), 422, "budget"),
            (
                Method::PUT,
                "/api/client/usage/limits/acme",
                Some(json!({"token_limit": 5, "budget": {"max_budget_usd": 1.234}})),
                422,
                "budget.max_budget_usd",
            ),
            (
                Method::PUT,
                "/api/client/usage/limits/acme",
                Some(json!({"budget": {"max_budget_usd": "0"}})),
                422,
                "budget.max_budget_usd",
            ),
            (
                Method::PUT,
                "/api/client/usage/limits/acme",
                Some(json!({"budget": {"max_budget_usd": true}})),
                422,
                "budget.max_budget_usd",
            ),
            (
                Method::PUT,
                "/api/client/usage/limits/acme",
                Some(json!({"budget": {"max_budget_usd": 10, "alert_threshold_pct": 40}})),
                422,
                "budget.alert_threshold_pct",
            ),
            (
                Method::PUT,
                "/api/client/usage/limits/acme",
                Some(json!({"budget": {"max_budget_usd": 10, "grace_threshold_pct": 151}})),
                422,
                "budget.grace_threshold_pct",
            ),
            (
                Method::PUT,
                "/api/client/usage/limits/acme",
                Some(json!({"budget": {"max_budget_usd": 10, "budget_duration_days": 45}})),
                422,
                "budget.budget_duration_days",
            ),
            (
                Method::PUT,
                "/api/client/usage/limits/acme",
                Some(json!({"budget": {"max_budget_usd": 10, "cap": 1}})),
                422,
                "budget.cap",
            ),
            (Method::PUT, "/api/client/usage/limits/Not%20An%20Id", Some(json!({"token_limit": 5})), 422, "tenant_id"),
            (
                Method::POST,
                "/api/client/usage/limits/acme/users",
                Some(json!({"user_id": " ", "token_limit": 5})),
                422,
                "user_id",
            ),
            (Method::POST, "/api/client/usage/limits/acme/users", Some(json!({"user_id": "ann"})), 422, "token_limit"),
            (
                Method::PUT,
                "/api/client/usage/limits/acme/users/ann",
                Some(json!({"token_limit": 9007199254740993u64})),
                422,
                "token_limit",
            ),
            (Method::GET, "/api/client/usage/history?tenant_id=acme&limit=0", None, 422, "limit"),
            (Method::GET, "/api/client/usage/history?tenant_id=acme&from=yesterday", None, 422, "from"),
            (Method::GET, "/api/client/usage/history?tenant_id=acme&cursor=nope", None, 422, "cursor"),
            (Method::GET, "/api/client/usage/history?tenant_id=acme&tenant=x", None, 422, "tenant"),
            (Method::GET, "/api/client/usage/status?tenant_id=acme&verbose=1", None, 422, "verbose"),
        ];
        for (method, path, body, want, field) in cases {
            let (status, err) = app.call(Some(&root), method.clone(), path, body.clone()).await;
            assert_eq!((status, err["field"].as_str()), (want, Some(field)), "{method} {path} {body:?}: {err}");
        }
        let res = app
            .client
            .put(app.url("/api/client/usage/limits/acme"))
            .bearer_auth(&root)
            .header("content-type", "application/json")
            .body("{\"token_limit\": ")
            .send()
            .await
            .expect("send");
        assert_eq!(res.status(), 400);
        // Nothing changed.
        let (_, limits) = app.call(Some(&root), Method::GET, "/api/client/usage/limits/acme", None).await;
        assert_eq!((limits["token_limit"].clone(), limits["mode_setting"].clone()), (1_000.into(), Value::Null));
        assert_eq!((limits["overrides"].clone(), limits["budget"].clone()), (json!([]), Value::Null));
    })
    .await;
}

/// Paging through the history by cursor yields every matching event exactly once, newest
/// first, for each filter: checked against the events the test itself reported.
#[tokio::test]
async fn history_pages_by_cursor_against_a_model() {
    on_each_backend(|app| async move {
        let key = app.tenant_with_agent("hist", None).await;
        let other = app.tenant_with_agent("other", None).await;
        // (event_id, user, model, occurred_at): several share an instant, to test the tie-break.
        let mut model_events = Vec::new();
        for i in 0..40 {
            let (user, model) = (["ann", "bob", "cy"][i % 3], ["gpt-4o", "gpt-4o-mini"][i % 2]);
            let id = format!("e{:02}", (i * 17) % 40);
            let body = json!({"event_id": id, "model": model, "input_tokens": i, "output_tokens": 1, "user_id": user});
            let res = app.agent_post("/api/agent/usage/report", &key, &body.to_string()).await;
            assert_eq!(res.status(), 201);
            model_events.push((id, user, model, app.state.clock.now_ms()));
            if i % 4 == 3 {
                app.state.clock.advance(1_000);
            }
        }
        app.report(&other, "not-hist", 5, 5).await;
        // Newest first: by time, then by event id, both descending.
        model_events.sort_by(|a, b| (b.3, &b.0).cmp(&(a.3, &a.0)));
        let root = app.api_token_of(&app.admin, "ops").await;
        let t0 = model_events.last().expect("events").3;
        let from = tollgate::limits::period::rfc3339(t0 + 2_000);
        let to = tollgate::limits::period::rfc3339(t0 + 7_000);
        type Keep = Box<dyn Fn(&(String, &str, &str, i64)) -> bool>;
        let filters: Vec<(String, Keep)> = vec![
            (String::new(), Box::new(|_| true)),
            ("&user_id=ann".into(), Box::new(|e| e.1 == "ann")),
            ("&model=gpt-4o-mini".into(), Box::new(|e| e.2 == "gpt-4o-mini")),
            (format!("&from={from}&to={to}"), Box::new(move |e| e.3 >= t0 + 2_000 && e.3 < t0 + 7_000)),
            (
                format!("&user_id=bob&model=gpt-4o&from={from}"),
                Box::new(move |e| e.1 == "bob" && e.2 == "gpt-4o" && e.3 >= t0 + 2_000),
            ),
        ];
        for (filter, keep) in filters {
            let want: Vec<String> = model_events.iter().filter(|e| keep(e)).map(|e| e.0.clone()).collect();
            let mut got = Vec::new();
            let mut cursor: Option<String> = None;
            for _ in 0..50 {
                let after = cursor.as_ref().map(|c| format!("&cursor={c}")).unwrap_or_default();
                let path = format!("/api/client/usage/history?tenant_id=hist&limit=7{filter}{after}");
                let (status, page) = app.call(Some(&root), Method::GET, &path.replace('+', "%2B"), None).await;
                assert_eq!(status, 200, "{path}: {page}");
                let events = page["events"].as_array().expect("events");
                assert!(events.len() <= 7);
                got.extend(events.iter().map(|e| e["event_id"].as_str().expect("id").to_owned()));
                assert!(events.iter().all(|e| e["tenant_id"] == "hist"));
                match page["next_cursor"].as_str() {
                    Some(c) => cursor = Some(c.to_owned()),
                    None => break,
                }
            }
            assert_eq!(got, want, "filter {filter:?}");
        }
    })
    .await;
}
