//! Store-level properties that must hold on both backends.

use crate::common::on_each_backend;
use tollgate::budgets::{BudgetConfig, BudgetDuration};
use tollgate::limits::period::DAY_MS;
use tollgate::tenants::TenantId;

/// The usage table computes each tenant's current period in SQL; the API computes it in
/// Rust. They must agree, or the table and the 429s would count different periods — also
/// while a new duration waits for the current period's reset.
#[tokio::test]
async fn sql_and_rust_agree_on_the_current_period() {
    on_each_backend(|app| async move {
        app.tenant_with_agent("periodic", None).await;
        let id = TenantId::parse("periodic").expect("id");
        let pool = &app.state.db.pool;
        let offsets = [-DAY_MS, 0, 1, 30 * DAY_MS - 1, 30 * DAY_MS, 95 * DAY_MS + 12_345, 3650 * DAY_MS];
        let id = &id;
        let agree = |label: &'static str| async move {
            let record = tollgate::tenants::store::get(pool, id).await.expect("get").expect("exists");
            for offset in offsets {
                let now = record.period_anchor + offset;
                let sql = tollgate::usage::store::sql_current_period_start(pool, "periodic", now).await.expect("sql");
                assert_eq!(sql, record.schedule().period_at(now).start, "{label}: offset {offset}");
            }
            record
        };
        let record = agree("30 days").await;
        // 60 days asked for ten days into the first period: it begins at day 30.
        let budget = BudgetConfig {
            max_budget_micros: 1_000_000,
            alert_threshold_pct: 80,
            grace_threshold_pct: 110,
            budget_duration: BudgetDuration::Days60,
        };
        let mut conn = pool.acquire().await.expect("conn");
        tollgate::tenants::store::set_budget(&mut conn, id, Some(&budget), "test", record.period_anchor + 10 * DAY_MS)
            .await
            .expect("save");
        drop(conn);
        let record = agree("30 then 60 days").await;
        assert_eq!(record.next_period_from, Some(record.period_anchor + 30 * DAY_MS));
    })
    .await;
}

#[tokio::test]
async fn migrations_are_idempotent() {
    on_each_backend(|app| async move {
        app.state.db.migrate().await.expect("second run is a no-op");
    })
    .await;
}
