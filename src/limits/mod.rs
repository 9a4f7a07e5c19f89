//! Limits: the token-limit rules and how Usage % is shown (pure), the period arithmetic
//! (pure), the admission policy and decision (pure), and the server functions and dialog that
//! change a tenant's limit.

pub mod edit;
#[cfg(feature = "ssr")]
pub mod manage;
pub mod mode;
pub mod period;
pub mod policy;
pub mod rules;
pub mod server_fns;

pub use mode::EnforcementMode;
pub use policy::{Decision, Demand, LimitKind, Policy, Usage, UserUsage};
pub use rules::{format_usage_pct, parse_optional_limit, usage_pct, TokenLimit, UsageBand, MAX_TOKEN_LIMIT};
