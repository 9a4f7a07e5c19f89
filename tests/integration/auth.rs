//! Accounts, roles and tenant isolation, on both backends.

use crate::common::{client, on_each_backend, TestApp, ROOT};
use reqwest::{Client, Method};
use serde_json::Value;
use tollgate::auth::Role;

/// Who makes a request in the matrix.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Who {
    Anonymous,
    AgentOfA,
    AdminOfA,
    AdminOfB,
    SystemAdmin,
}
use Who::*;

const EVERYONE: [Who; 5] = [Anonymous, AgentOfA, AdminOfA, AdminOfB, SystemAdmin];

/// Tenants `a` (with an agent whose key `key_a` is used) and `b` (with two agents), a tenant
/// admin for each, and the system admin.
struct World {
    app: TestApp,
    key_a: String,
    key_b: String,
    admin_a: Client,
    admin_b: Client,
    agent_b2: i64,
}

async fn world(app: TestApp) -> World {
    let key_a = app.tenant_with_agent("a", Some(1_000_000)).await;
    let key_b = app.tenant_with_agent("b", Some(1_000_000)).await;
    app.report(&key_a, "seed", 10, 10).await;
    app.report(&key_b, "seed", 20, 20).await;
    let (_, deployed) = app.server_fn("deploy_agent", &[("agent_name", "b-second"), ("tenant_id", "b")]).await;
    let agent_b2 = deployed["agent_id"].as_i64().expect("agent id");
    app.add_user("admin-a", "password-of-a", Role::TenantAdmin { tenant_id: "a".into() }).await;
    app.add_user("admin-b", "password-of-b", Role::TenantAdmin { tenant_id: "b".into() }).await;
    let admin_a = app.signed_in("admin-a", "password-of-a").await;
    let admin_b = app.signed_in("admin-b", "password-of-b").await;
    World { app, key_a, key_b, admin_a, admin_b, agent_b2 }
}

impl World {
    /// Sends one request as `who`: cookies for console users, the bearer key for the agent.
    async fn send(&self, who: Who, method: Method, path: &str, form: &[(&str, &str)]) -> (u16, String) {
        let app = &self.app;
        let mut request = match who {
            Anonymous | AgentOfA => app.client.request(method.clone(), app.url(path)),
            AdminOfA => self.admin_a.request(method.clone(), app.url(path)),
            AdminOfB => self.admin_b.request(method.clone(), app.url(path)),
            SystemAdmin => app.admin.request(method.clone(), app.url(path)),
        };
        if who == AgentOfA {
            request = request.bearer_auth(&self.key_a);
        }
        if !path.starts_with("/api/") {
            // As a browser navigates: leptos answers a redirect with 302 only to HTML requests.
            request = request.header("accept", "text/html");
        }
        if method == Method::POST {
            request = if path.starts_with("/api/agent/") {
                request.header("content-type", "application/json").body(form.first().map_or("", |f| f.1).to_owned())
            } else {
                request.form(form)
            };
        }
        let res = request.send().await.expect("send");
        let status = res.status().as_u16();
        (status, res.text().await.unwrap_or_default())
    }

    /// Asserts the status for each principal, in `EVERYONE` order.
    async fn expect(&self, method: Method, path: &str, form: &[(&str, &str)], expected: [u16; 5]) {
        for (who, want) in EVERYONE.into_iter().zip(expected) {
            let (got, body) = self.send(who, method.clone(), path, form).await;
            assert_eq!(got, want, "{method} {path} as {who:?}: {body}");
        }
    }
}

const USAGE_QUERY: &str = "/api/list_usage?query[q]=&query[sort]=tenant_id&query[desc]=false&query[page]=1";
const REPORT: &str = r#"{"event_id":"matrix","model":"m","input_tokens":1,"output_tokens":1}"#;

/// Every server function and HTTP route × {anonymous, agent key of A, tenant admin A,
/// tenant admin B, system admin}.
#[tokio::test]
async fn authorisation_matrix() {
    on_each_backend(|app| async move {
        let w = world(app).await;
        let b2 = w.agent_b2.to_string();
        let get = Method::GET;
        let post = Method::POST;
        // Console reads.
        w.expect(get.clone(), "/api/current_user", &[], [200, 200, 200, 200, 200]).await;
        w.expect(get.clone(), USAGE_QUERY, &[], [401, 401, 200, 200, 200]).await;
        w.expect(get.clone(), "/api/lookup_tenant?tenant_id=a", &[], [401, 401, 403, 403, 200]).await;
        w.expect(get.clone(), "/api/tenant_overview?tenant_id=a", &[], [401, 401, 200, 404, 200]).await;
        w.expect(get.clone(), "/api/tenant_overview?tenant_id=b", &[], [401, 401, 404, 200, 200]).await;
        w.expect(get.clone(), "/api/tenant_overview?tenant_id=nobody", &[], [401, 401, 404, 404, 404]).await;
        w.expect(get.clone(), "/api/list_users", &[], [401, 401, 403, 403, 200]).await;
        w.expect(get.clone(), "/api/list_audit?tenant_id=a", &[], [401, 401, 200, 404, 200]).await;
        w.expect(get.clone(), "/api/list_audit?tenant_id=", &[], [401, 401, 403, 403, 200]).await;
        w.expect(get.clone(), "/api/load_budget?tenant_id=a", &[], [401, 401, 200, 404, 200]).await;
        w.expect(get.clone(), "/api/load_budget?tenant_id=b", &[], [401, 401, 404, 200, 200]).await;
        // Console writes (the system admin's succeed, so each is last in its row).
        let limit = [("tenant_id", "a"), ("token_limit", "5000")];
        w.expect(post.clone(), "/api/set_token_limit", &limit, [401, 401, 403, 403, 200]).await;
        w.expect(post.clone(), "/api/clear_token_limit", &[("tenant_id", "a")], [401, 401, 403, 403, 200]).await;
        let deploy = [("agent_name", "x"), ("tenant_id", "a")];
        w.expect(post.clone(), "/api/deploy_agent", &deploy, [401, 401, 403, 403, 200]).await;
        w.expect(post.clone(), "/api/revoke_agent", &[("agent_id", &b2)], [401, 401, 403, 403, 200]).await;
        let new_admin = [("username", "new-admin"), ("tenant_id", "a"), ("password", "a-long-password")];
        w.expect(post.clone(), "/api/create_tenant_admin", &new_admin, [401, 401, 403, 403, 200]).await;
        let sign_out_new_admin = [("username", "new-admin"), ("action", "sign_out_everywhere")];
        w.expect(post.clone(), "/api/manage_account", &sign_out_new_admin, [401, 401, 403, 403, 200]).await;
        let ceiling = [("tenant_id", "a"), ("budget_ceiling", "900")];
        w.expect(post.clone(), "/api/save_budget_ceiling", &ceiling, [401, 401, 403, 403, 200]).await;
        // A tenant admin edits their own tenant's budget (seed 004's user), not another's.
        let budget = [
            ("tenant_id", "a"),
            ("max_budget", "500"),
            ("alert_threshold", "80"),
            ("grace_threshold", "110"),
            ("budget_duration", "30d"),
        ];
        w.expect(post.clone(), "/api/save_budget", &budget, [401, 401, 200, 404, 200]).await;
        // Overrides: a tenant admin manages their own tenant's; the mode is the system admin's.
        let ann = [("tenant_id", "a"), ("user_id", "ann"), ("token_limit", "10")];
        w.expect(post.clone(), "/api/set_user_override", &ann, [401, 401, 200, 404, 200]).await;
        let ann = [("tenant_id", "a"), ("user_id", "ann")];
        w.expect(post.clone(), "/api/remove_user_override", &ann, [401, 401, 200, 404, 404]).await;
        let mode = [("tenant_id", "a"), ("mode", "monitor")];
        w.expect(post.clone(), "/api/set_enforcement_mode", &mode, [401, 401, 403, 403, 200]).await;
        let range = "/api/usage_breakdown?tenant_id=a&range=7d";
        w.expect(get.clone(), range, &[], [401, 401, 200, 404, 200]).await;
        // Personal API tokens: every signed-in user has their own.
        w.expect(get.clone(), "/api/list_api_tokens", &[], [401, 401, 200, 200, 200]).await;
        w.expect(post.clone(), "/api/create_api_token", &[("name", "ci")], [401, 401, 200, 200, 200]).await;
        // The agent API takes only agent keys, never a console session.
        w.expect(post.clone(), "/api/agent/usage/check", &[], [401, 200, 401, 401, 401]).await;
        w.expect(post.clone(), "/api/agent/usage/report", &[("json", REPORT)], [401, 201, 401, 401, 401]).await;
        w.expect(get.clone(), "/api/agent/usage/status", &[], [401, 200, 401, 401, 401]).await;
        // Pages.
        w.expect(get.clone(), "/", &[], [302, 302, 200, 200, 200]).await;
        w.expect(get.clone(), "/tenants/a", &[], [302, 302, 200, 404, 200]).await;
        w.expect(get.clone(), "/tenants/b", &[], [302, 302, 404, 200, 200]).await;
        w.expect(get.clone(), "/tenants/a/budget", &[], [302, 302, 200, 404, 200]).await;
        w.expect(get.clone(), "/admin", &[], [302, 302, 403, 403, 200]).await;
        w.expect(get.clone(), "/admin?tab=limits", &[], [302, 302, 403, 403, 200]).await;
        w.expect(get.clone(), "/admin?tab=tokens", &[], [302, 302, 200, 200, 200]).await;
        w.expect(get.clone(), "/sign-in", &[], [200, 200, 200, 200, 200]).await;
    })
    .await;
}

fn tenant_ids(page: &Value) -> Vec<String> {
    page["rows"].as_array().expect("rows").iter().map(|r| r["tenant_id"].as_str().expect("id").to_owned()).collect()
}

#[tokio::test]
async fn tenant_admins_read_only_their_own_tenant() {
    on_each_backend(|app| async move {
        let w = world(app).await;
        let (_, page) = w.app.server_fn_get_as(&w.admin_a, "list_usage", &USAGE_QUERY[16..]).await;
        assert_eq!(tenant_ids(&page), ["a"]);
        assert_eq!(page["total_rows"], 1);
        let (_, page) = w
            .app
            .server_fn_get_as(
                &w.admin_a,
                "list_usage",
                "query[q]=b&query[sort]=tenant_id&query[desc]=false&query[page]=1",
            )
            .await;
        assert_eq!(page["total_rows"], 0, "filtering cannot reach another tenant");
        let (_, page) = w.app.server_fn_get("list_usage", &USAGE_QUERY[16..]).await;
        assert_eq!(tenant_ids(&page), ["a", "b"]);

        // B's page, B's data: the same 404 as a tenant that does not exist.
        let (status, other) = w.app.server_fn_get_as(&w.admin_a, "tenant_overview", "tenant_id=b").await;
        let (_, missing) = w.app.server_fn_get_as(&w.admin_a, "tenant_overview", "tenant_id=nobody").await;
        assert_eq!(status, 404);
        assert_eq!(
            other["message"].as_str().map(|m| m.replace("b", "?")),
            missing["message"].as_str().map(|m| m.replace("nobody", "?"))
        );
        let html = w.admin_a.get(w.app.url("/tenants/b")).send().await.expect("get").text().await.expect("html");
        assert!(!html.contains("b-second") && !html.contains("test-agent"), "no data of B in the page");
    })
    .await;
}

#[tokio::test]
async fn tenant_admins_cannot_write() {
    on_each_backend(|app| async move {
        let w = world(app).await;
        let app = &w.app;
        app.server_fn_as(&w.admin_a, "set_token_limit", &[("tenant_id", "a"), ("token_limit", "1")]).await;
        app.server_fn_as(&w.admin_a, "revoke_agent", &[("agent_id", &w.agent_b2.to_string())]).await;
        app.server_fn_as(&w.admin_b, "deploy_agent", &[("agent_name", "x"), ("tenant_id", "c"), ("token_limit", "5")])
            .await;
        let (_, a) = app.server_fn_get("lookup_tenant", "tenant_id=a").await;
        assert_eq!(a["token_limit"], 1_000_000);
        let (_, c) = app.server_fn_get("lookup_tenant", "tenant_id=c").await;
        assert_eq!(c["display_name"], Value::Null);
        assert_eq!(app.check(&w.key_b).await.status(), 200);
        let (_, b) = app.server_fn_get("tenant_overview", "tenant_id=b").await;
        assert!(b["agents"].as_array().expect("agents").iter().all(|a| a["revoked_at"].is_null()));
    })
    .await;
}

#[tokio::test]
async fn a_revoked_key_is_refused_at_once() {
    on_each_backend(|app| async move {
        let w = world(app).await;
        let (_, overview) = w.app.server_fn_get("tenant_overview", "tenant_id=a").await;
        let agent_id = overview["agents"][0]["agent_id"].as_i64().expect("id").to_string();
        assert_eq!(w.app.check(&w.key_a).await.status(), 200);
        let (status, _) = w.app.server_fn("revoke_agent", &[("agent_id", &agent_id)]).await;
        assert_eq!(status, 200);
        assert_eq!(w.app.check(&w.key_a).await.status(), 401);
        assert_eq!(w.app.report(&w.key_a, "after", 1, 1).await.status(), 401);
        let (_, overview) = w.app.server_fn_get("tenant_overview", "tenant_id=a").await;
        assert!(overview["agents"][0]["revoked_at"].is_i64());
        let (status, _) = w.app.server_fn("revoke_agent", &[("agent_id", "999999")]).await;
        assert_eq!(status, 404);
    })
    .await;
}

#[tokio::test]
async fn sign_in_sets_a_safe_session_cookie_and_sign_out_ends_it() {
    on_each_backend(|app| async move {
        let c = client();
        let res = c
            .post(app.url("/api/sign_in"))
            .header("accept", "text/html")
            .form(&[("username", "ROOT "), ("password", ROOT.1), ("next", "/admin")])
            .send()
            .await
            .expect("send");
        assert_eq!(res.status(), 302);
        assert_eq!(res.headers()["location"], "/admin");
        let cookies: Vec<String> =
            res.headers().get_all("set-cookie").iter().map(|c| c.to_str().expect("ascii").to_owned()).collect();
        for name in ["tollgate_session=", "tollgate_device="] {
            let cookie = cookies.iter().find(|c| c.starts_with(name)).expect("cookie set");
            assert!(
                cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax") && !cookie.contains("Secure"),
                "{cookie}"
            );
        }
        let (_, me) = app.server_fn_get_as(&c, "current_user", "").await;
        assert_eq!(me["username"], "root");

        let res = c.post(app.url("/api/sign_out")).header("accept", "text/html").send().await.expect("send");
        assert_eq!(res.status(), 302);
        let (_, me) = app.server_fn_get_as(&c, "current_user", "").await;
        assert_eq!(me, Value::Null);
        assert_eq!(c.get(app.url("/")).header("accept", "text/html").send().await.expect("get").status(), 302);

        // `next` can only be a path on this site.
        let res = client()
            .post(app.url("/api/sign_in"))
            .header("accept", "text/html")
            .form(&[("username", ROOT.0), ("password", ROOT.1), ("next", "//evil.example/")])
            .send()
            .await
            .expect("send");
        assert_eq!(res.headers()["location"], "/");
    })
    .await;
}

#[tokio::test]
async fn protected_pages_redirect_to_sign_in_and_back() {
    on_each_backend(|app| async move {
        let res = app.client.get(app.url("/tenants/acme?x=1")).header("accept", "text/html").send().await.expect("get");
        assert_eq!(res.status(), 302);
        assert_eq!(res.headers()["location"], "/sign-in?next=%2Ftenants%2Facme%3Fx%3D1");
        // The sign-in page carries `next` in its server-rendered form, so a browser without
        // JavaScript comes back to the page it asked for.
        let page = app.client.get(app.url("/sign-in?next=%2Ftenants%2Facme%3Fx%3D1")).send().await.expect("get");
        let html = page.text().await.expect("html");
        assert!(html.contains(r#"name="next" value="/tenants/acme?x=1""#), "{html}");
    })
    .await;
}

#[tokio::test]
async fn wrong_credentials_are_401_alike_and_then_rate_limited() {
    on_each_backend(|app| async move {
        let c = client();
        let (status, wrong_pw) = app.server_fn_as(&c, "sign_in", &[("username", "root"), ("password", "nope")]).await;
        assert_eq!(status, 401);
        let (status, no_user) = app.server_fn_as(&c, "sign_in", &[("username", "ghost"), ("password", "nope")]).await;
        assert_eq!(status, 401);
        assert_eq!(wrong_pw["message"], no_user["message"], "the answer does not say which was wrong");
        let (status, body) = app.server_fn_as(&c, "sign_in", &[("username", ""), ("password", "x")]).await;
        assert_eq!((status, body["field"].as_str()), (422, Some("username")));

        for _ in 0..4 {
            app.server_fn_as(&c, "sign_in", &[("username", "root"), ("password", "nope")]).await;
        }
        // Five failures for root: even the right password is refused now.
        let res = c
            .post(app.url("/api/sign_in"))
            .form(&[("username", "root"), ("password", ROOT.1)])
            .send()
            .await
            .expect("send");
        assert_eq!(res.status(), 429);
        assert_eq!(res.headers()["retry-after"], "900");
        // After the window it works again.
        app.state.clock.advance(15 * 60 * 1000 + 1);
        let res = app.sign_in_form(&client(), &[("username", "root"), ("password", ROOT.1)]).await;
        assert_eq!(res.status(), 302);
    })
    .await;
}

#[tokio::test]
async fn one_address_is_limited_across_accounts() {
    on_each_backend(|app| async move {
        let c = client();
        for i in 0..20 {
            let (status, _) =
                app.server_fn_as(&c, "sign_in", &[("username", &format!("user{i}")), ("password", "guess")]).await;
            assert_eq!(status, 401);
        }
        let (status, _) = app.server_fn_as(&c, "sign_in", &[("username", "root"), ("password", ROOT.1)]).await;
        assert_eq!(status, 429);
    })
    .await;
}

#[tokio::test]
async fn expired_sessions_are_not_honoured() {
    on_each_backend(|app| async move {
        let (_, me) = app.server_fn_get("current_user", "").await;
        assert_eq!(me["username"], "root");
        sqlx::query("UPDATE sessions SET expiry_date = 0").execute(&app.state.db.pool).await.expect("expire");
        let (status, _) = app.server_fn_get("list_users", "").await;
        assert_eq!(status, 401);
    })
    .await;
}

#[tokio::test]
async fn cross_site_writes_are_refused() {
    on_each_backend(|app| async move {
        app.tenant_with_agent("target", Some(100)).await;
        for (header, value) in
            [("sec-fetch-site", "cross-site"), ("sec-fetch-site", "same-site"), ("origin", "http://evil.example")]
        {
            let res = app
                .admin
                .post(app.url("/api/set_token_limit"))
                .header(header, value)
                .form(&[("tenant_id", "target"), ("token_limit", "1")])
                .send()
                .await
                .expect("send");
            assert_eq!(res.status(), 403, "{header}: {value}");
        }
        let same = app
            .admin
            .post(app.url("/api/set_token_limit"))
            .header("sec-fetch-site", "same-origin")
            .header("origin", app.base.clone());
        let (_, before) = app.server_fn_get("lookup_tenant", "tenant_id=target").await;
        assert_eq!(before["token_limit"], 100, "the refused writes changed nothing");
        let res = same.form(&[("tenant_id", "target"), ("token_limit", "7")]).send().await.expect("send");
        assert_eq!(res.status(), 200);
    })
    .await;
}

#[tokio::test]
async fn system_admins_create_tenant_admins_who_can_sign_in() {
    on_each_backend(|app| async move {
        app.tenant_with_agent("acme", None).await;
        let args = [("username", "Acme-Ops"), ("tenant_id", "acme"), ("password", "acme-ops-password")];
        let (status, user) = app.server_fn("create_tenant_admin", &args).await;
        assert_eq!(status, 200, "{user}");
        assert_eq!((user["username"].clone(), user["tenant_id"].clone()), ("acme-ops".into(), "acme".into()));
        let (status, body) = app.server_fn("create_tenant_admin", &args).await;
        assert_eq!((status, body["field"].as_str()), (409, Some("username")));
        for (field, args) in [
            ("password", [("username", "x-user"), ("tenant_id", "acme"), ("password", "short")]),
            ("tenant_id", [("username", "y-user"), ("tenant_id", "nobody"), ("password", "long-enough-pw")]),
            ("username", [("username", "<b>"), ("tenant_id", "acme"), ("password", "long-enough-pw")]),
        ] {
            let (status, body) = app.server_fn("create_tenant_admin", &args).await;
            assert_eq!((status, body["field"].as_str()), (422, Some(field)), "{body}");
        }
        let ops = app.signed_in("acme-ops", "acme-ops-password").await;
        let (_, me) = app.server_fn_get_as(&ops, "current_user", "").await;
        assert_eq!(me["tenant_id"], "acme");
    })
    .await;
}

#[tokio::test]
async fn markup_in_names_renders_as_text() {
    on_each_backend(|app| async move {
        let (status, _) =
            app.server_fn("deploy_agent", &[("agent_name", "<script>alert('x')</script>"), ("tenant_id", "web")]).await;
        assert_eq!(status, 200);
        let html = app.admin.get(app.url("/tenants/web")).send().await.expect("get").text().await.expect("html");
        assert!(
            html.contains("&lt;script&gt;alert('x')&lt;/script&gt;")
                || html.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;"),
            "{html}"
        );
        assert!(!html.contains("<script>alert("));
    })
    .await;
}

/// The operator's bootstrap: `tollgate user create --admin` with the password on stdin.
#[tokio::test]
async fn cli_creates_the_first_system_admin() {
    use std::io::Write;
    let dir = tempfile::tempdir().expect("dir");
    let url = format!("sqlite://{}/cli.db", dir.path().display());
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_tollgate"))
        .args(["--database-url", &url, "user", "create", "Boss", "--admin", "--password-stdin"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("run tollgate");
    child.stdin.take().expect("stdin").write_all(b"boss-password-1\n").expect("write");
    let out = child.wait_with_output().expect("wait");
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("user boss created (System admin)"));
    let db = tollgate::db::Db::connect(&tollgate::db::DbOptions::new(&url)).await.expect("db");
    let found = tollgate::auth::store::credentials(&db.pool, "boss").await.expect("query").expect("user");
    assert_eq!(found.user.role, Role::SystemAdmin);
    assert!(tollgate::auth::password::verify("boss-password-1".into(), Some(found.password_hash))
        .await
        .expect("verify"));
}
