//! Store-level properties that must hold on both backends.

use crate::common::on_each_backend;
use tollgate::limits::period::{current_period, DAY_MS};
use tollgate::tenants::TenantId;

/// The usage table computes each tenant's current period in SQL; the API computes it in
/// Rust. They must agree, or the table and the 429s would count different periods.
#[tokio::test]
async fn sql_and_rust_agree_on_the_current_period() {
    on_each_backend(|app| async move {
        app.tenant_with_agent("periodic", None).await;
        let id = TenantId::parse("periodic").expect("id");
        let record = tollgate::tenants::store::get(&app.state.db.pool, &id).await.expect("get").expect("exists");
        for offset in [-DAY_MS, 0, 1, 30 * DAY_MS - 1, 30 * DAY_MS, 95 * DAY_MS + 12_345, 3650 * DAY_MS] {
            let now = record.period_anchor + offset;
            let sql = tollgate::usage::store::sql_current_period_start(&app.state.db.pool, "periodic", now)
                .await
                .expect("sql");
            assert_eq!(sql, current_period(record.period_anchor, record.period_days(), now).start, "offset {offset}");
        }
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
