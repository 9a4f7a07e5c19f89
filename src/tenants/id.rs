//! The tenant id rule from PRODUCT.md: `^[a-z0-9][a-z0-9_-]{0,62}$`.

use crate::validation::FieldError;
use serde::{Deserialize, Serialize};
use std::fmt;

/// A tenant id that satisfies the id rule; the only way to get one is [`TenantId::parse`].
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TenantId(String);

pub const TENANT_ID_MAX_LEN: usize = 63;

impl TenantId {
    /// Accepts exactly the id rule; surrounding whitespace is trimmed, nothing else is changed
    /// (an upper-case id is an error, not silently lowered).
    pub fn parse(input: &str) -> Result<Self, FieldError> {
        let id = input.trim();
        let err = |message: &str| Err(FieldError::new("tenant_id", message));
        let Some(first) = id.bytes().next() else {
            return err("required");
        };
        if id.len() > TENANT_ID_MAX_LEN {
            return err("must be at most 63 characters");
        }
        if !(first.is_ascii_lowercase() || first.is_ascii_digit()) {
            return err("must start with a lowercase letter or a digit");
        }
        let allowed = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_';
        if !id.bytes().all(allowed) {
            return err("may contain only lowercase letters, digits, '-' and '_'");
        }
        Ok(Self(id.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TenantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for TenantId {
    type Error = FieldError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<TenantId> for String {
    fn from(id: TenantId) -> Self {
        id.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn accepts_and_rejects_examples() {
        for ok in ["a", "0", "acme", "acme-corp_2", &"a".repeat(63)] {
            assert!(TenantId::parse(ok).is_ok(), "{ok}");
        }
        for bad in
            ["", " ", "-acme", "_a", "Acme", "ac me", "a'; DROP TABLE tenants;--", "<script>", &"a".repeat(64), "é"]
        {
            assert!(TenantId::parse(bad).is_err(), "{bad}");
        }
    }

    proptest! {
        #[test]
        fn every_string_matching_the_rule_is_accepted(id in "[a-z0-9][a-z0-9_-]{0,62}") {
            prop_assert_eq!(TenantId::parse(&id).map(String::from), Ok(id));
        }

        #[test]
        fn accepted_ids_always_match_the_rule(s in "\\PC{0,70}") {
            if let Ok(id) = TenantId::parse(&s) {
                let id = id.as_str();
                prop_assert!((1..=63).contains(&id.len()));
                prop_assert!(id.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_'));
                prop_assert!(!id.starts_with(['-', '_']));
            }
        }
    }
}
