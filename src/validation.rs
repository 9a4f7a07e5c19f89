//! The error every pure parser returns: which input field is wrong and why, in words a person
//! can act on. It carries no HTTP or UI knowledge; `AppError` turns it into a 422.

use serde::{Deserialize, Serialize};

/// One rejected input field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{field}: {message}")]
pub struct FieldError {
    /// The field's name as the client spelled it (`token_limit`, `tenant_id`, …).
    pub field: String,
    /// What is wrong, as a sentence fragment ("must be greater than 0").
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self { field: field.into(), message: message.into() }
    }
}

/// A required free-text value: trimmed, not empty, at most `max_chars`, no control characters.
pub fn short_text(field: &str, input: &str, max_chars: usize) -> Result<String, FieldError> {
    let value = input.trim();
    if value.is_empty() {
        return Err(FieldError::new(field, "required"));
    }
    if value.chars().count() > max_chars {
        return Err(FieldError::new(field, format!("must be at most {max_chars} characters")));
    }
    if value.chars().any(char::is_control) {
        return Err(FieldError::new(field, "must not contain control characters"));
    }
    Ok(value.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_text_trims_and_bounds() {
        assert_eq!(short_text("name", "  bot ", 10), Ok("bot".into()));
        assert!(short_text("name", "   ", 10).is_err());
        assert!(short_text("name", "abcdefghijk", 10).is_err());
        assert!(short_text("name", "a\u{0}b", 10).is_err());
    }
}
