//! The audit log: every change is recorded with who, what, before and after, in the change's
//! own transaction; readers see only what their role allows. On both backends.

use crate::common::{on_each_backend, TestApp};
use serde_json::Value;
use tollgate::auth::Role;

/// The tenant's audit entries (newest first) as (action, old, new) with the values parsed.
async fn entries(app: &TestApp, tenant: &str) -> Vec<(String, Value, Value)> {
    let (status, page) = app.server_fn_get("list_audit", &format!("tenant_id={tenant}")).await;
    assert_eq!(status, 200, "{page}");
    page["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .map(|e| {
            let parse = |v: &Value| v.as_str().map_or(Value::Null, |s| serde_json::from_str(s).expect("json value"));
            (e["action"].as_str().expect("action").to_owned(), parse(&e["old_value"]), parse(&e["new_value"]))
        })
        .collect()
}

#[tokio::test]
async fn every_change_is_recorded_with_who_before_and_after() {
    on_each_backend(|app| async move {
        let (status, deployed) = app
            .server_fn("deploy_agent", &[("agent_name", "bot"), ("tenant_id", "audited"), ("token_limit", "1000")])
            .await;
        assert_eq!(status, 200, "{deployed}");
        let agent_id = deployed["agent_id"].as_i64().expect("agent id").to_string();
        app.server_fn("set_token_limit", &[("tenant_id", "audited"), ("token_limit", "500")]).await;
        app.server_fn("clear_token_limit", &[("tenant_id", "audited")]).await;
        app.server_fn("revoke_agent", &[("agent_id", &agent_id)]).await;
        app.server_fn(
            "create_tenant_admin",
            &[("username", "aud-admin"), ("tenant_id", "audited"), ("password", "a-long-password")],
        )
        .await;

        let log = entries(&app, "audited").await;
        let actions: Vec<&str> = log.iter().map(|(a, _, _)| a.as_str()).collect();
        assert_eq!(
            actions,
            [
                "user_created",
                "agent_revoked",
                "token_limit_changed",
                "token_limit_changed",
                "agent_deployed",
                "tenant_created"
            ]
        );
        assert_eq!(log[2].1["token_limit"], 500, "cleared: from 500");
        assert_eq!(log[2].2["token_limit"], Value::Null, "to No Limit");
        assert_eq!((log[3].1["token_limit"].clone(), log[3].2["token_limit"].clone()), (1000.into(), 500.into()));
        assert!(log[1].2["revoked_at"].is_i64());
        assert_eq!(log[5].2["token_limit"], 1000);
        let (_, page) = app.server_fn_get("list_audit", "tenant_id=audited").await;
        assert!(page["entries"].as_array().expect("entries").iter().all(|e| e["actor"] == "root"), "{page}");
    })
    .await;
}

#[tokio::test]
async fn a_refused_change_leaves_no_entry() {
    on_each_backend(|app| async move {
        app.tenant_with_agent("steady", Some(100)).await;
        let before = entries(&app, "steady").await.len();
        let (status, _) = app.server_fn("set_token_limit", &[("tenant_id", "steady"), ("token_limit", "0")]).await;
        assert_eq!(status, 422);
        let (status, _) = app.server_fn("set_token_limit", &[("tenant_id", "nobody"), ("token_limit", "5")]).await;
        assert_eq!(status, 404);
        let (status, _) = app.server_fn("revoke_agent", &[("agent_id", "999999")]).await;
        assert_eq!(status, 404);
        assert_eq!(entries(&app, "steady").await.len(), before);
        let (_, all) = app.server_fn_get("list_audit", "tenant_id=").await;
        assert!(all["entries"].as_array().expect("entries").iter().all(|e| e["tenant_id"] != "nobody"));
    })
    .await;
}

#[tokio::test]
async fn tenant_admins_read_only_their_own_tenants_log() {
    on_each_backend(|app| async move {
        app.tenant_with_agent("mine", Some(10)).await;
        app.tenant_with_agent("theirs", Some(10)).await;
        app.add_user("mine-admin", "mine-password", Role::TenantAdmin { tenant_id: "mine".into() }).await;
        let client = app.signed_in("mine-admin", "mine-password").await;
        let (status, page) = app.server_fn_get_as(&client, "list_audit", "tenant_id=mine").await;
        assert_eq!(status, 200, "{page}");
        assert!(!page["entries"].as_array().expect("entries").is_empty());
        let (status, _) = app.server_fn_get_as(&client, "list_audit", "tenant_id=theirs").await;
        assert_eq!(status, 404, "another tenant's log answers like a missing tenant");
        let (status, _) = app.server_fn_get_as(&client, "list_audit", "tenant_id=").await;
        assert_eq!(status, 403, "the whole log is for system admins");
        let (status, _) = app.server_fn_get_as(&app.client, "list_audit", "tenant_id=mine").await;
        assert_eq!(status, 401);
    })
    .await;
}

#[tokio::test]
async fn the_log_pages_by_cursor_newest_first() {
    on_each_backend(|app| async move {
        app.tenant_with_agent("busy-log", None).await;
        for limit in 1..=30 {
            let (status, _) = app
                .server_fn("set_token_limit", &[("tenant_id", "busy-log"), ("token_limit", &limit.to_string())])
                .await;
            assert_eq!(status, 200);
        }
        let (_, first) = app.server_fn_get("list_audit", "tenant_id=busy-log").await;
        let first_entries = first["entries"].as_array().expect("entries");
        assert_eq!(first_entries.len(), 25);
        assert!(first_entries[0]["new_value"].as_str().is_some_and(|v| v.contains("30")));
        let before = first["next_before"].as_i64().expect("a next page");
        let (_, second) = app.server_fn_get("list_audit", &format!("tenant_id=busy-log&before={before}")).await;
        let second_entries = second["entries"].as_array().expect("entries");
        // 30 limit changes + tenant_created + agent_deployed = 32 entries.
        assert_eq!(second_entries.len(), 7);
        assert_eq!(second["next_before"], Value::Null);
        let ids: Vec<i64> = first_entries.iter().chain(second_entries).map(|e| e["id"].as_i64().expect("id")).collect();
        assert!(ids.windows(2).all(|w| w[0] > w[1]), "newest first, no overlap: {ids:?}");
    })
    .await;
}

/// Filters by action, by actor and by tenant (across the log) select exactly the entries a
/// model of the changes made says, page by page; a bad filter is a 422 naming it.
#[tokio::test]
async fn the_log_filters_by_action_actor_and_tenant() {
    on_each_backend(|app| async move {
        app.tenant_with_agent("f-one", None).await;
        app.tenant_with_agent("f-two", None).await;
        app.add_user("fa-admin", "password-of-fa", Role::TenantAdmin { tenant_id: "f-one".into() }).await;
        let tenant_admin = app.signed_in("fa-admin", "password-of-fa").await;
        // The model: (actor, tenant, action) of each change made here.
        let mut made: Vec<(&str, &str, &str)> = Vec::new();
        for i in 1..=28 {
            let tenant = if i % 2 == 0 { "f-one" } else { "f-two" };
            let limit = (i * 10).to_string();
            let (status, _) =
                app.server_fn("set_token_limit", &[("tenant_id", tenant), ("token_limit", limit.as_str())]).await;
            assert_eq!(status, 200);
            made.push((crate::common::ROOT.0, tenant, "token_limit_changed"));
            if i % 7 == 0 {
                let user = format!("u{i}");
                let args = [("tenant_id", "f-one"), ("user_id", user.as_str()), ("token_limit", "5")];
                assert_eq!(app.server_fn_as(&tenant_admin, "set_user_override", &args).await.0, 200);
                made.push(("fa-admin", "f-one", "user_override_set"));
            }
        }
        // Every page of a filtered log, as (actor, tenant, action).
        let read_all = |query: String| {
            let app = &app;
            async move {
                let mut seen = Vec::new();
                let mut before: Option<i64> = None;
                loop {
                    let q = match before {
                        Some(b) => format!("{query}&before={b}"),
                        None => query.clone(),
                    };
                    let (status, page) = app.server_fn_get("list_audit", &q).await;
                    assert_eq!(status, 200, "{q}: {page}");
                    for e in page["entries"].as_array().expect("entries") {
                        seen.push((
                            e["actor"].as_str().expect("actor").to_owned(),
                            e["tenant_id"].as_str().unwrap_or_default().to_owned(),
                            e["action"].as_str().expect("action").to_owned(),
                        ));
                    }
                    match page["next_before"].as_i64() {
                        Some(b) => before = Some(b),
                        None => return seen,
                    }
                }
            }
        };
        let expect = |keep: &dyn Fn(&(&str, &str, &str)) -> bool| -> Vec<(String, String, String)> {
            made.iter()
                .rev()
                .filter(|m| keep(m))
                .map(|(a, t, x)| (a.to_string(), t.to_string(), x.to_string()))
                .collect()
        };
        let limits_of_one = read_all("tenant_id=f-one&action=token_limit_changed".into()).await;
        assert_eq!(limits_of_one, expect(&|m| m.1 == "f-one" && m.2 == "token_limit_changed"));
        assert_eq!(limits_of_one.len(), 14);
        let by_admin = read_all("tenant_id=&actor=fa-admin".into()).await;
        assert_eq!(by_admin, expect(&|m| m.0 == "fa-admin"));
        let all_two = read_all(format!("tenant_id=f-two&actor={}", crate::common::ROOT.0)).await;
        let mut want = expect(&|m| m.1 == "f-two");
        // The tenant's creation and its agent were recorded by the test helper, not by ROOT.
        want.retain(|w| w.0 == crate::common::ROOT.0);
        assert_eq!(all_two, want);
        assert_eq!(read_all("tenant_id=&action=user_override_set&actor=nobody".into()).await, vec![]);
        // 28 limit changes across both tenants page past 25.
        let every_limit = read_all("tenant_id=&action=token_limit_changed".into()).await;
        assert_eq!(every_limit.len(), 28);
        // A tenant admin filters their own tenant's log only.
        let (status, page) =
            app.server_fn_get_as(&tenant_admin, "list_audit", "tenant_id=f-one&action=user_override_set").await;
        assert_eq!((status, page["entries"].as_array().map(Vec::len)), (200, Some(4)));
        let long_actor = format!("tenant_id=&actor={}", "x".repeat(101));
        for (query, field) in [("tenant_id=&action=dropped_tables", "action"), (long_actor.as_str(), "actor")] {
            let (status, err) = app.server_fn_get("list_audit", query).await;
            assert_eq!((status, err["field"].as_str()), (422, Some(field)), "{query}: {err}");
        }
    })
    .await;
}

/// The log is in the order changes happened, not the order they were written (the CLI and
/// demo data write entries with their own times): 40 entries written in a shuffled time order
/// read back, page by page, newest first by time, each once.
#[tokio::test]
async fn the_log_is_ordered_by_time_across_pages() {
    use tollgate::audit::store::{record, Change};
    use tollgate::audit::AuditAction;
    on_each_backend(|app| async move {
        app.tenant_with_agent("timed", None).await;
        let base = app.state.clock.now_ms() + 1_000_000;
        let mut conn = app.state.db.pool.acquire().await.expect("conn");
        let mut written: Vec<i64> = (0..40).map(|i| base + (i * 7919 % 40) * 60_000).collect();
        for at in &written {
            let change = Change {
                actor: "cli",
                tenant_id: Some("timed"),
                action: AuditAction::TokenLimitChanged,
                old_value: None,
                new_value: Some(serde_json::json!({"token_limit": at})),
                at: *at,
            };
            record(&mut conn, change).await.expect("record");
        }
        drop(conn);
        let mut seen: Vec<i64> = Vec::new();
        let mut before: Option<i64> = None;
        loop {
            let q = before
                .map_or("tenant_id=timed&actor=cli".to_owned(), |b| format!("tenant_id=timed&actor=cli&before={b}"));
            let (_, page) = app.server_fn_get("list_audit", &q).await;
            seen.extend(page["entries"].as_array().expect("entries").iter().map(|e| e["at"].as_i64().expect("at")));
            match page["next_before"].as_i64() {
                Some(b) => before = Some(b),
                None => break,
            }
        }
        written.sort_unstable_by(|a, b| b.cmp(a));
        assert_eq!(seen, written);
    })
    .await;
}
