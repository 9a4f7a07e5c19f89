//! Token limits: the rules (pure), the period arithmetic (pure), and the server functions and
//! dialog that change a tenant's limit.

pub mod edit;
pub mod period;
pub mod rules;
pub mod server_fns;

pub use rules::{
    admit, decide, format_usage_pct, parse_optional_limit, usage_pct, TokenDecision, TokenLimit, UsageBand,
    MAX_TOKEN_LIMIT,
};
