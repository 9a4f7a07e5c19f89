//! Per-user overrides: a tenant's user (the end user an agent acts for, as reported in
//! `user_id`) with a token limit of their own. Resolution: a user with an override is held to
//! it *and* to the tenant's limits; a user without one shares the tenant's total. The rules
//! here are pure and shared with the browser; `store` keeps the rows (with the audit entry).

pub mod server_fns;
#[cfg(feature = "ssr")]
pub mod store;

use crate::limits::TokenLimit;
use crate::validation::{short_text, FieldError};
use serde::{Deserialize, Serialize};

/// The longest user id accepted, as for every id an agent reports.
pub const MAX_USER_ID_CHARS: usize = 128;
/// The most overrides one tenant may have: the local engine holds a tenant's overrides in
/// memory and re-reads them every 5 s, and the console and the API list them whole.
pub const MAX_OVERRIDES_PER_TENANT: usize = 1000;

/// A user id as agents report it: trimmed, 1–128 characters, no control characters.
pub fn parse_user_id(field: &str, text: &str) -> Result<String, FieldError> {
    short_text(field, text, MAX_USER_ID_CHARS)
}

/// One override as the console and the APIs show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserOverride {
    pub tenant_id: String,
    pub user_id: String,
    pub token_limit: TokenLimit,
    /// The user's tokens (input + output) in the tenant's current period.
    pub used_tokens: u64,
    pub created_at: i64,
    pub updated_at: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_ids_are_short_printable_text() {
        assert_eq!(parse_user_id("user_id", "  ann@example.com "), Ok("ann@example.com".into()));
        for bad in ["", "   ", "a\nb"] {
            assert_eq!(parse_user_id("user_id", bad).expect_err(bad).field, "user_id");
        }
        assert!(parse_user_id("user_id", &"x".repeat(129)).is_err());
        assert!(parse_user_id("user_id", &"x".repeat(128)).is_ok());
    }
}
