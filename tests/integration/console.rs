//! The console's server functions and server-rendered page, on both backends.

use crate::common::on_each_backend;
use serde_json::Value;

#[tokio::test]
async fn deploy_creates_the_tenant_with_its_limit_and_returns_a_working_key() {
    on_each_backend(|app| async move {
        let (status, body) = app
            .server_fn("deploy_agent", &[("agent_name", "bot"), ("tenant_id", "fresh"), ("token_limit", "1000")])
            .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["tenant_created"], true);
        let key = body["api_key"].as_str().expect("key").to_owned();
        let check: Value = app.check(&key).await.json().await.expect("json");
        assert_eq!((check["tenant_id"].clone(), check["token_limit"].clone()), ("fresh".into(), 1000.into()));

        // A second agent for the same tenant, without a limit: the tenant is reused.
        let (status, body) = app.server_fn("deploy_agent", &[("agent_name", "bot-2"), ("tenant_id", "fresh")]).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["tenant_created"], false);
        assert_ne!(body["api_key"].as_str(), Some(key.as_str()));
    })
    .await;
}

#[tokio::test]
async fn deploy_without_a_limit_creates_a_tenant_with_no_limit() {
    on_each_backend(|app| async move {
        let (status, _) =
            app.server_fn("deploy_agent", &[("agent_name", "bot"), ("tenant_id", "free"), ("token_limit", "")]).await;
        assert_eq!(status, 200);
        let (_, lookup) = app.server_fn_get("lookup_tenant", "tenant_id=free").await;
        assert_eq!((lookup["display_name"].clone(), lookup["token_limit"].clone()), ("free".into(), Value::Null));
    })
    .await;
}

#[tokio::test]
async fn deploy_rejects_invalid_input_with_422_naming_the_field_and_creates_nothing() {
    on_each_backend(|app| async move {
        let cases = [
            ("bot", "t-zero", "0", "token_limit"),
            ("bot", "t-neg", "-5", "token_limit"),
            ("bot", "t-frac", "2.5", "token_limit"),
            ("bot", "t-text", "ten", "token_limit"),
            ("bot", "t-huge", "9007199254740993", "token_limit"),
            ("bot", "Bad Id", "10", "tenant_id"),
            ("bot", "x'; DROP TABLE tenants; --", "10", "tenant_id"),
            ("   ", "t-noname", "10", "agent_name"),
        ];
        for (agent_name, tenant_id, limit, field) in cases {
            let (status, body) = app
                .server_fn(
                    "deploy_agent",
                    &[("agent_name", agent_name), ("tenant_id", tenant_id), ("token_limit", limit)],
                )
                .await;
            assert_eq!(status, 422, "{tenant_id}/{limit}: {body}");
            assert_eq!(body["error"], "invalid_input");
            assert_eq!(body["field"], field, "{body}");
        }
        let (_, page) =
            app.server_fn_get("list_usage", "query[q]=&query[sort]=tenant_id&query[desc]=false&query[page]=1").await;
        assert_eq!(page["total_rows"], 0, "nothing was created: {page}");
        // Missing arguments are the client's fault too.
        let (status, _) = app.server_fn("deploy_agent", &[("agent_name", "bot")]).await;
        assert_eq!(status, 400);
    })
    .await;
}

#[tokio::test]
async fn deploy_refuses_to_set_a_limit_on_an_existing_tenant() {
    on_each_backend(|app| async move {
        app.tenant_with_agent("taken", Some(500)).await;
        let (status, body) = app
            .server_fn("deploy_agent", &[("agent_name", "bot"), ("tenant_id", "taken"), ("token_limit", "99")])
            .await;
        assert_eq!(status, 409, "{body}");
        assert_eq!(body["field"], "token_limit");
        let (_, lookup) = app.server_fn_get("lookup_tenant", "tenant_id=taken").await;
        assert_eq!(lookup["token_limit"], 500, "the limit is unchanged");
    })
    .await;
}

#[tokio::test]
async fn lookup_tells_existing_from_new_and_rejects_bad_ids() {
    on_each_backend(|app| async move {
        app.tenant_with_agent("known", Some(5)).await;
        let (status, body) = app.server_fn_get("lookup_tenant", "tenant_id=known").await;
        assert_eq!(
            (status, body["display_name"].clone(), body["token_limit"].clone()),
            (200, "known".into(), 5.into())
        );
        let (status, body) = app.server_fn_get("lookup_tenant", "tenant_id=unknown").await;
        assert_eq!((status, body["display_name"].clone()), (200, Value::Null));
        let (status, body) = app.server_fn_get("lookup_tenant", "tenant_id=%3Cscript%3E").await;
        assert_eq!((status, body["field"].clone()), (422, "tenant_id".into()));
    })
    .await;
}

#[tokio::test]
async fn set_and_clear_token_limit() {
    on_each_backend(|app| async move {
        let key = app.tenant_with_agent("adjust", None).await;
        app.report(&key, "e", 600, 0).await;
        let (status, body) = app.server_fn("set_token_limit", &[("tenant_id", "adjust"), ("token_limit", "500")]).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(app.check(&key).await.status(), 429);

        for bad in ["0", "-1", "1.5", "abc", ""] {
            let (status, body) =
                app.server_fn("set_token_limit", &[("tenant_id", "adjust"), ("token_limit", bad)]).await;
            assert_eq!((status, body["field"].clone()), (422, "token_limit".into()), "{bad:?}");
        }
        let (status, _) = app.server_fn("set_token_limit", &[("tenant_id", "nobody"), ("token_limit", "5")]).await;
        assert_eq!(status, 404);

        let (status, _) = app.server_fn("clear_token_limit", &[("tenant_id", "adjust")]).await;
        assert_eq!(status, 200);
        assert_eq!(app.check(&key).await.status(), 200);
    })
    .await;
}

fn query(q: &str, sort: &str, desc: bool, page: u32) -> String {
    format!("query[q]={q}&query[sort]={sort}&query[desc]={desc}&query[page]={page}")
}

#[tokio::test]
async fn list_usage_filters_sorts_and_pages_on_the_server() {
    on_each_backend(|app| async move {
        for (id, limit, used) in
            [("alpha", Some(1000), 300), ("beta", Some(1000), 850), ("gamma", Some(100), 105), ("delta", None, 5000)]
        {
            let key = app.tenant_with_agent(id, limit).await;
            app.report(&key, "e", used, 0).await;
        }
        let ids = |page: &Value| -> Vec<String> {
            page["rows"]
                .as_array()
                .expect("rows")
                .iter()
                .map(|r| r["tenant_id"].as_str().expect("id").to_owned())
                .collect()
        };
        let (status, page) = app.server_fn_get("list_usage", &query("", "usage_pct", true, 1)).await;
        assert_eq!(status, 200, "{page}");
        assert_eq!(ids(&page), ["gamma", "beta", "alpha", "delta"], "highest usage first, No Limit last");
        let (_, page) = app.server_fn_get("list_usage", &query("", "usage_pct", false, 1)).await;
        assert_eq!(ids(&page), ["alpha", "beta", "gamma", "delta"], "No Limit last in both directions");
        let (_, page) = app.server_fn_get("list_usage", &query("", "total_tokens", true, 1)).await;
        assert_eq!(
            ids(&page),
            ["delta", "gamma", "beta", "alpha"][..1]
                .iter()
                .chain(&["beta", "alpha", "gamma"])
                .copied()
                .collect::<Vec<_>>()
        );
        let (_, page) = app.server_fn_get("list_usage", &query("ET", "tenant_id", false, 1)).await;
        assert_eq!(ids(&page), ["beta"], "case-insensitive substring");
        let (_, page) = app.server_fn_get("list_usage", &query("%25", "tenant_id", false, 1)).await;
        assert_eq!(page["total_rows"], 0, "LIKE wildcards match literally");
        let (_, page) = app.server_fn_get("list_usage", &query("", "tenant_id", false, 2)).await;
        assert_eq!((ids(&page).len(), page["total_rows"].clone()), (0, 4.into()));

        // By mode, strictest last; a tenant without its own mode is in the default (enforce).
        app.set_mode("alpha", Some(tollgate::limits::EnforcementMode::Off)).await;
        app.set_mode("gamma", Some(tollgate::limits::EnforcementMode::Monitor)).await;
        let (_, page) = app.server_fn_get("list_usage", &query("", "mode", false, 1)).await;
        assert_eq!(ids(&page), ["alpha", "gamma", "beta", "delta"], "off, monitor, then enforce by id");
        let (_, page) = app.server_fn_get("list_usage", &query("", "mode", true, 1)).await;
        assert_eq!(ids(&page), ["beta", "delta", "gamma", "alpha"]);
        // By override count, ties by id.
        for (id, users) in [("delta", 3), ("alpha", 1), ("beta", 1)] {
            for u in 0..users {
                app.set_user_limit(id, &format!("u{u}"), Some(10)).await;
            }
        }
        let (_, page) = app.server_fn_get("list_usage", &query("", "overrides", true, 1)).await;
        assert_eq!(ids(&page), ["delta", "alpha", "beta", "gamma"]);
        let counts: Vec<i64> =
            page["rows"].as_array().expect("rows").iter().filter_map(|r| r["override_count"].as_i64()).collect();
        assert_eq!(counts, [3, 1, 1, 0]);
    })
    .await;
}

#[tokio::test]
async fn list_usage_pages_through_many_tenants() {
    on_each_backend(|app| async move {
        let mut conn = app.state.db.pool.acquire().await.expect("conn");
        for i in 0..120 {
            let tenant = tollgate::tenants::store::NewTenant {
                id: tollgate::tenants::TenantId::parse(&format!("t{i:03}")).expect("id"),
                display_name: format!("Tenant {i}"),
                token_limit: None,
            };
            tollgate::tenants::store::create(&mut conn, &tenant, "test", 0).await.expect("create");
        }
        drop(conn);
        let (_, page) = app.server_fn_get("list_usage", &query("", "tenant_id", false, 3)).await;
        let rows = page["rows"].as_array().expect("rows");
        assert_eq!((rows.len(), page["total_rows"].clone()), (20, 120.into()));
        assert_eq!(rows[0]["tenant_id"], "t100");
    })
    .await;
}

#[tokio::test]
async fn the_usage_page_is_rendered_on_the_server() {
    on_each_backend(|app| async move {
        let key = app.tenant_with_agent("rendered", Some(1000)).await;
        app.report(&key, "e", 700, 350).await;
        app.tenant_with_agent("unlimited", None).await;
        app.tenant_with_agent("evil", None).await;
        sqlx::query("UPDATE tenants SET display_name = '<script>alert(1)</script>' WHERE id = 'evil'")
            .execute(&app.state.db.pool)
            .await
            .expect("update");
        let html = app.admin.get(app.url("/")).send().await.expect("get").text().await.expect("html");
        assert!(html.contains("Token usage by tenant"), "{html}");
        assert!(html.contains("rendered") && html.contains("105.0%") && html.contains("usage-danger"));
        assert!(html.contains("No Limit"));
        assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;") && !html.contains("<script>alert(1)"));
        let missing = app.client.get(app.url("/no/such/page")).send().await.expect("get");
        assert_eq!(missing.status(), 404);
    })
    .await;
}

/// The tenant page's usage by user and by model: each row is the sum of the reports the test
/// made (its own model of them), biggest first, over the range asked for.
#[tokio::test]
async fn usage_by_user_and_model_matches_the_reports() {
    on_each_backend(|app| async move {
        let key = app.tenant_with_agent("split", None).await;
        let mut by_user = std::collections::BTreeMap::<String, i64>::new();
        let mut by_model = std::collections::BTreeMap::<String, i64>::new();
        // An old event, outside the last 24 hours.
        let old = serde_json::json!({"event_id": "old", "model": "gpt-4o", "input_tokens": 7, "output_tokens": 0, "user_id": "ann"});
        app.agent_post("/api/agent/usage/report", &key, &old.to_string()).await;
        app.state.clock.advance(2 * 86_400_000);
        for i in 0..30i64 {
            let (user, model) = (["ann", "bob", "cy"][(i % 3) as usize], ["gpt-4o", "gpt-4o-mini"][(i % 2) as usize]);
            let body = serde_json::json!({"event_id": format!("e{i}"), "model": model, "input_tokens": 10 * i, "output_tokens": i, "user_id": user});
            assert_eq!(app.agent_post("/api/agent/usage/report", &key, &body.to_string()).await.status(), 201);
            *by_user.entry(user.into()).or_default() += 11 * i;
            *by_model.entry(model.into()).or_default() += 11 * i;
        }
        app.report(&key, "anonymous", 5, 5).await;
        *by_user.entry("(none)".into()).or_default() += 10;
        *by_model.entry("gpt-4o".into()).or_default() += 10;

        let rows = |v: &Value| -> Vec<(String, i64)> {
            v.as_array()
                .expect("rows")
                .iter()
                .map(|r| {
                    let key = r["key"].as_str().unwrap_or("(none)").to_owned();
                    (key, r["input_tokens"].as_i64().unwrap_or(0) + r["output_tokens"].as_i64().unwrap_or(0))
                })
                .collect()
        };
        let sorted = |m: &std::collections::BTreeMap<String, i64>| {
            let mut v: Vec<(String, i64)> = m.iter().map(|(k, t)| (k.clone(), *t)).collect();
            v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
            v
        };
        let (status, day) = app.server_fn_get("usage_breakdown", "tenant_id=split&range=24h").await;
        assert_eq!(status, 200, "{day}");
        let mut users = rows(&day["by_user"]);
        // NULL users sort by the database's rule; compare as sets of (key, tokens) in total order.
        users.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        assert_eq!(users, sorted(&by_user));
        assert_eq!(rows(&day["by_model"]), sorted(&by_model));
        // The period also holds the old event.
        let (_, period) = app.server_fn_get("usage_breakdown", "tenant_id=split&range=period").await;
        *by_user.entry("ann".into()).or_default() += 7;
        let mut users = rows(&period["by_user"]);
        users.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        assert_eq!(users, sorted(&by_user));
        assert_eq!(period["range"], "period");
    })
    .await;
}

/// Console answers carry the security headers: a page's Content-Security-Policy names the
/// nonce its hydration script carries (and no other inline script may run), nothing may frame
/// the console, and answers are never cached — an agent key or API token in a server
/// function's answer included.
#[tokio::test]
async fn console_answers_carry_the_security_headers() {
    on_each_backend(|app| async move {
        let page = app.admin.get(app.url("/")).send().await.expect("page");
        let headers = page.headers().clone();
        let html = page.text().await.expect("html");
        let policy = headers["content-security-policy"].to_str().expect("ascii").to_owned();
        let nonce =
            policy.split("'nonce-").nth(1).and_then(|rest| rest.split('\'').next()).expect("a nonce in the policy");
        assert!(nonce.len() >= 16, "{policy}");
        assert!(html.contains(&format!("nonce=\"{nonce}\"")), "the hydration script carries the policy's nonce");
        let again = app.admin.get(app.url("/")).send().await.expect("page");
        assert_ne!(
            again.headers()["content-security-policy"],
            headers["content-security-policy"],
            "a new nonce per page"
        );
        for (name, value) in
            [("x-frame-options", "DENY"), ("x-content-type-options", "nosniff"), ("cache-control", "no-store")]
        {
            assert_eq!(headers[name], value, "{name}");
        }
        assert!(policy.contains("frame-ancestors 'none'") && !policy.contains("'unsafe-inline'; script"), "{policy}");
        // The answer that shows an agent key once.
        let res = app
            .admin
            .post(app.url("/api/deploy_agent"))
            .form(&[("agent_name", "bot"), ("tenant_id", "headers")])
            .send()
            .await
            .expect("deploy");
        assert_eq!(res.status(), 200);
        for (name, value) in [
            ("cache-control", "no-store"),
            ("strict-transport-security", "max-age=31536000"),
            ("x-frame-options", "DENY"),
        ] {
            assert_eq!(res.headers()[name], value, "{name}");
        }
        assert_eq!(res.headers()["content-security-policy"], "default-src 'none'; frame-ancestors 'none'");
        // Not found, too.
        let missing = app.admin.get(app.url("/no/such/page")).send().await.expect("404");
        assert_eq!(missing.status(), 404);
        assert!(missing.headers()["content-security-policy"].to_str().is_ok_and(|p| p.contains("'nonce-")));
    })
    .await;
}

/// The Usage Limits drawer saves its fields together: all are checked before any is saved (a
/// bad one changes nothing and is named), then only what changed is written and audited.
#[tokio::test]
async fn the_limits_drawer_saves_every_field_or_none() {
    on_each_backend(|app| async move {
        let key = app.tenant_with_agent("drawn", Some(1000)).await;
        let save = |limit: &'static str, budget: &'static str, ceiling: &'static str, mode: &'static str| {
            let args = [
                ("tenant_id", "drawn"),
                ("token_limit", limit),
                ("max_budget", budget),
                ("budget_ceiling", ceiling),
                ("mode", mode),
            ];
            let app = &app;
            async move { app.server_fn("save_tenant_limits", &args).await }
        };
        for (limit, budget, ceiling, mode, field) in [
            ("0", "250", "", "monitor", "token_limit"),
            ("40", "2.555", "", "monitor", "max_budget"),
            ("40", "250", "-1", "monitor", "budget_ceiling"),
            ("40", "250", "", "loud", "mode"),
        ] {
            let (status, body) = save(limit, budget, ceiling, mode).await;
            assert_eq!((status, body["field"].as_str()), (422, Some(field)), "{body}");
        }
        let (_, page) = app.server_fn_get("list_audit", "tenant_id=drawn").await;
        let before = page["entries"].as_array().map(Vec::len);
        let status = app.status(&key).await;
        assert_eq!(
            (status["token_limit"].clone(), status["mode"].clone()),
            (1000.into(), "enforce".into()),
            "nothing saved"
        );

        let (status, body) = save("40", "250", "400", "monitor").await;
        assert_eq!(status, 200, "{body}");
        let status = app.status(&key).await;
        assert_eq!(
            (status["token_limit"].clone(), status["mode"].clone(), status["max_budget_usd"].clone()),
            (40.into(), "monitor".into(), 250.0.into())
        );
        let (_, o) = app.server_fn_get("load_budget", "tenant_id=drawn").await;
        assert_eq!(o["budget_ceiling_micros"], 400_000_000);
        let (_, page) = app.server_fn_get("list_audit", "tenant_id=drawn").await;
        assert_eq!(page["entries"].as_array().map(Vec::len), before.map(|n| n + 4), "four changes, four entries");
        // Saving the same again writes nothing.
        save("40", "250", "400", "monitor").await;
        let (_, again) = app.server_fn_get("list_audit", "tenant_id=drawn").await;
        assert_eq!(again["entries"].as_array().map(Vec::len), before.map(|n| n + 4));
        // Tenant admins may not.
        app.add_user("drawn-admin", "drawn-password", tollgate::auth::Role::TenantAdmin { tenant_id: "drawn".into() })
            .await;
        let tenant_admin = app.signed_in("drawn-admin", "drawn-password").await;
        let args =
            [("tenant_id", "drawn"), ("token_limit", ""), ("max_budget", ""), ("budget_ceiling", ""), ("mode", "off")];
        assert_eq!(app.server_fn_as(&tenant_admin, "save_tenant_limits", &args).await.0, 403);
    })
    .await;
}
