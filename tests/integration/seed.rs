//! `seed-limits`: a dry run reports and writes nothing, a run applies and audits, a second
//! run changes nothing; the gate enforces what was seeded. Both backends.

use crate::common::on_each_backend;
use tollgate::limits::EnforcementMode;
use tollgate::seed::{apply::apply, parse_seed, SeedFormat};
use tollgate::tenants::TenantId;

const FILE: &str = r#"
[[tenants]]
id = "seeded"
token_limit = 1000
mode = "enforce"
budget = { max_budget = "250", grace_threshold = 120 }
users = [ { user_id = "ann", token_limit = 100 } ]

[[tenants]]
id = "fresh-from-seed"
display_name = "Fresh"
token_limit = 5000
mode = "monitor"
"#;

async fn audit_rows(app: &crate::common::TestApp) -> i64 {
    sqlx::query_scalar("SELECT COUNT(*) FROM audit_log").fetch_one(&app.state.db.pool).await.expect("count")
}

#[tokio::test]
async fn seed_limits_is_idempotent_and_has_a_dry_run() {
    on_each_backend(|app| async move {
        let key = app.tenant_with_agent("seeded", None).await;
        let seeds = parse_seed(FILE, SeedFormat::Toml).expect("valid file");
        let now = app.state.clock.now_ms();
        let audited = audit_rows(&app).await;

        let dry = apply(&app.state.db, &seeds, "test", now, true).await.expect("dry run");
        let lines: Vec<String> = dry.iter().map(ToString::to_string).collect();
        assert!(lines.contains(&"seeded: token_limit No Limit -> 1000".to_owned()), "{lines:?}");
        assert!(lines.contains(&"seeded: mode default -> enforce".to_owned()), "{lines:?}");
        assert!(lines.contains(&"seeded: budget no budget -> $250.00 (80%/120%, 30d)".to_owned()), "{lines:?}");
        assert!(lines.contains(&"seeded: user ann token_limit (none) -> 100".to_owned()), "{lines:?}");
        assert!(lines.contains(&"fresh-from-seed: tenant (none) -> created".to_owned()), "{lines:?}");
        assert!(lines.contains(&"fresh-from-seed: mode default -> monitor".to_owned()), "{lines:?}");
        assert_eq!(audit_rows(&app).await, audited, "a dry run writes nothing");
        assert_eq!(app.status(&key).await["token_limit"], serde_json::Value::Null);

        let applied = apply(&app.state.db, &seeds, "test", now, false).await.expect("apply");
        assert_eq!(applied, dry, "the dry run reported exactly what the run did");
        assert_eq!(audit_rows(&app).await, audited + applied.len() as i64 - 1, "each change audited (the new tenant's limit is in its creation)");
        let again = apply(&app.state.db, &seeds, "test", now, false).await.expect("again");
        assert!(again.is_empty(), "a second run changes nothing: {again:?}");
        assert_eq!(audit_rows(&app).await, audited + applied.len() as i64 - 1);

        // The gate enforces what was seeded (the CLI's process tells it by the 5 s refresh;
        // here the test tells it).
        app.state.gate.tenant_changed(&TenantId::parse("seeded").expect("id")).await.expect("changed");
        app.report_for(&key, "e1", "ann", 100).await;
        let (status, body) = app.check_json(&key, serde_json::json!({"user_id": "ann"})).await;
        assert_eq!((status, body["limit"].clone()), (429, "user_token_limit".into()), "{body}");
        let status = app.status(&key).await;
        assert_eq!((status["token_limit"].clone(), status["mode"].clone()), (1000.into(), "enforce".into()));
        assert_eq!(status["max_budget_usd"], 250.0);
        let fresh = tollgate::tenants::store::get(&app.state.db.pool, &TenantId::parse("fresh-from-seed").expect("id"))
            .await
            .expect("read")
            .expect("created");
        assert_eq!((fresh.display_name.as_str(), fresh.token_limit), ("Fresh", Some(5000)));
        assert_eq!(fresh.policy().mode, Some(EnforcementMode::Monitor));

        // Removing through the file: "none" clears.
        let clear = parse_seed(r#"tenants = [{ id = "seeded", token_limit = "none", users = [{ user_id = "ann", token_limit = "none" }] }]"#, SeedFormat::Toml)
            .expect("valid");
        let cleared = apply(&app.state.db, &clear, "test", now, false).await.expect("clear");
        let lines: Vec<String> = cleared.iter().map(ToString::to_string).collect();
        assert_eq!(lines, ["seeded: token_limit 1000 -> No Limit", "seeded: user ann token_limit 100 -> (none)"]);
    })
    .await;
}

/// A tenant deployed from the console without a limit gets the server's default limit and
/// budget; an explicit limit wins; an existing tenant is left alone.
#[tokio::test]
async fn new_tenants_start_with_the_configured_defaults() {
    use crate::common::{spawn_app_with, AppOptions, TestDatabase};
    use tollgate::budgets::{BudgetConfig, BudgetForm};
    use tollgate::limits::TokenLimit;
    let budget = BudgetConfig::parse(&BudgetForm { max_budget: "300".into(), ..BudgetForm::of(None) }).expect("budget");
    let defaults =
        tollgate::tenants::store::TenantDefaults { token_limit: TokenLimit::new(5_000).ok(), budget: Some(budget) };
    let mut databases = vec![TestDatabase::sqlite()];
    databases.extend(TestDatabase::postgres().await);
    for db in databases {
        let app = spawn_app_with(&db, AppOptions { tenant_defaults: Some(defaults), ..AppOptions::default() }).await;
        let get = |id: &'static str| {
            let pool = app.state.db.pool.clone();
            async move {
                tollgate::tenants::store::get(&pool, &TenantId::parse(id).expect("id"))
                    .await
                    .expect("read")
                    .expect("exists")
            }
        };
        let (status, _) = app.server_fn("deploy_agent", &[("agent_name", "bot"), ("tenant_id", "defaulted")]).await;
        assert_eq!(status, 200);
        let t = get("defaulted").await;
        assert_eq!((t.token_limit, t.budget()), (Some(5_000), Some(budget)));
        let (status, _) = app
            .server_fn("deploy_agent", &[("agent_name", "bot"), ("tenant_id", "explicit"), ("token_limit", "42")])
            .await;
        assert_eq!(status, 200);
        assert_eq!(get("explicit").await.token_limit, Some(42));
        app.tenant_with_agent("existing", None).await;
        let (status, _) = app.server_fn("deploy_agent", &[("agent_name", "bot2"), ("tenant_id", "existing")]).await;
        assert_eq!(status, 200);
        let t = get("existing").await;
        assert_eq!((t.token_limit, t.budget()), (None, None), "an existing tenant keeps its settings");
        db.cleanup().await;
    }
}
