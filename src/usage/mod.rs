//! Usage: what agents report (validated, priced), how a batch of reports is recorded (planned
//! purely, written by the store), the per-period counters, and the console's usage table.

pub mod batch;
pub mod breakdown;
pub mod breakdown_table;
pub mod history;
pub mod model;
#[cfg(feature = "ssr")]
pub mod price_db;
#[cfg(feature = "ssr")]
pub mod price_file;
pub mod pricing;
pub mod report;
pub mod server_fns;
pub mod table;
pub mod tokens;

#[cfg(feature = "ssr")]
pub mod store;

pub use model::{SortKey, UsagePage, UsageQuery, UsageRow, PAGE_SIZE};
