//! Usage: what agents report, the per-period counters, the agent HTTP API that checks and
//! records, and the console's usage table.

pub mod model;
pub mod pricing;
pub mod report;
pub mod server_fns;
pub mod table;

#[cfg(feature = "ssr")]
pub mod agent_api;
#[cfg(feature = "ssr")]
pub mod store;
#[cfg(feature = "ssr")]
pub mod writer;

pub use model::{SortKey, UsagePage, UsageQuery, UsageRow, PAGE_SIZE};
