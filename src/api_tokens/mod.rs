//! Personal API tokens: a console user creates one to call the automation API
//! (`/api/client/usage/*`) from scripts. A token acts as its user, with that user's role as it
//! is at each request; it is shown once, stored hashed, and can be revoked.

pub mod page;
pub mod server_fns;

#[cfg(feature = "ssr")]
pub mod store;

use crate::validation::FieldError;
use serde::{Deserialize, Serialize};

/// Where the API tokens page lives: a tab of the Admin route, open to every signed-in user.
pub const TOKENS_PATH: &str = "/admin?tab=tokens";

/// What every token starts with ("Tollgate personal"): tells it apart from an agent key (`tg_`).
pub const TOKEN_PREFIX: &str = "tgp_";
/// The longest token name.
pub const NAME_MAX_CHARS: usize = 100;

/// A token as its owner's list shows it: never the token itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiTokenInfo {
    pub token_id: i64,
    pub name: String,
    /// The token's first characters, to tell tokens apart.
    pub token_prefix: String,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

/// A token just created: `token` is shown this once and never again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreatedToken {
    pub token: String,
    pub info: ApiTokenInfo,
}

/// A token's name: 1–100 characters after trimming, no control characters.
pub fn parse_token_name(input: &str) -> Result<String, FieldError> {
    let name = input.trim();
    if name.is_empty() {
        return Err(FieldError::new("name", "required"));
    }
    if name.chars().count() > NAME_MAX_CHARS {
        return Err(FieldError::new("name", format!("must be at most {NAME_MAX_CHARS} characters")));
    }
    if name.chars().any(char::is_control) {
        return Err(FieldError::new("name", "must not contain control characters"));
    }
    Ok(name.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn names() {
        assert_eq!(parse_token_name("  CI pipeline "), Ok("CI pipeline".into()));
        for bad in ["", "   ", "a\nb", &"x".repeat(101)] {
            assert_eq!(parse_token_name(bad).map_err(|e| e.field), Err("name".to_owned()), "{bad:?}");
        }
    }

    proptest! {
        /// Whatever is accepted is stored as typed, minus the surrounding space, and accepted again.
        #[test]
        fn accepted_names_are_stable(s in "\\PC{0,120}") {
            if let Ok(name) = parse_token_name(&s) {
                prop_assert_eq!(name.as_str(), s.trim());
                prop_assert_eq!(parse_token_name(&name), Ok(name.clone()));
            }
        }
    }
}
