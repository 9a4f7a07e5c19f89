//! The tokens of one call, one model for every source (an agent's report, an OpenAI chat or
//! Responses answer, an Anthropic Messages answer). Pure.
//!
//! `input_tokens` is every prompt token, cached ones included: cache reads and cache writes
//! are *parts* of it, as `reasoning_tokens` is a part of `output_tokens`. (Anthropic reports
//! its cache tokens beside `input_tokens`; its adapter adds them in.) Token limits count
//! `input_tokens + output_tokens`, so a cached token counts against a limit like any other;
//! only its price differs.

use crate::validation::FieldError;
use serde::{Deserialize, Serialize};

/// The most tokens one call may report in either direction; anything above is a client bug.
pub const MAX_TOKENS_PER_EVENT: i64 = 100_000_000;

/// What one call used.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenUsage {
    /// Every prompt token, cached or not.
    pub input_tokens: i64,
    pub output_tokens: i64,
    /// Prompt tokens read from the provider's cache (billed below the input price).
    #[serde(default)]
    pub cache_read_tokens: i64,
    /// Prompt tokens written to a cache that lives 5 minutes (billed above the input price).
    #[serde(default)]
    pub cache_write_5m_tokens: i64,
    /// Prompt tokens written to a cache that lives an hour.
    #[serde(default)]
    pub cache_write_1h_tokens: i64,
    /// Output tokens the model spent thinking (billed as output).
    #[serde(default)]
    pub reasoning_tokens: i64,
}

impl TokenUsage {
    /// A call without cache or reasoning detail.
    pub fn plain(input_tokens: i64, output_tokens: i64) -> Self {
        Self { input_tokens, output_tokens, ..Self::default() }
    }

    /// What token limits count: every input and output token.
    pub fn total(&self) -> i64 {
        self.input_tokens + self.output_tokens
    }

    /// Prompt tokens written to any cache.
    pub fn cache_write_tokens(&self) -> i64 {
        self.cache_write_5m_tokens + self.cache_write_1h_tokens
    }

    /// Prompt tokens neither read from nor written to a cache.
    pub fn uncached_input_tokens(&self) -> i64 {
        self.input_tokens - self.cache_read_tokens - self.cache_write_tokens()
    }

    /// Checks every count, naming the first field that is wrong: each is 0..=100M, the cache
    /// parts fit inside `input_tokens` and the reasoning inside `output_tokens`.
    pub fn check(&self) -> Result<(), FieldError> {
        for (field, n) in [
            ("input_tokens", self.input_tokens),
            ("output_tokens", self.output_tokens),
            ("cache_read_tokens", self.cache_read_tokens),
            ("cache_write_5m_tokens", self.cache_write_5m_tokens),
            ("cache_write_1h_tokens", self.cache_write_1h_tokens),
            ("reasoning_tokens", self.reasoning_tokens),
        ] {
            if n < 0 {
                return Err(FieldError::new(field, "must not be negative"));
            }
            if n > MAX_TOKENS_PER_EVENT {
                return Err(FieldError::new(field, format!("must be at most {MAX_TOKENS_PER_EVENT} per call")));
            }
        }
        if self.uncached_input_tokens() < 0 {
            // Name the largest part: with one part given, the one the client got wrong.
            let parts = [
                ("cache_read_tokens", self.cache_read_tokens),
                ("cache_write_5m_tokens", self.cache_write_5m_tokens),
                ("cache_write_1h_tokens", self.cache_write_1h_tokens),
            ];
            let field = parts.iter().rev().max_by_key(|(_, n)| *n).map_or("cache_read_tokens", |(f, _)| *f);
            return Err(FieldError::new(
                field,
                "cache reads and writes are parts of input_tokens: together they must not exceed it",
            ));
        }
        if self.reasoning_tokens > self.output_tokens {
            return Err(FieldError::new("reasoning_tokens", "is a part of output_tokens: it must not exceed it"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_must_fit_in_their_whole() {
        let ok = TokenUsage {
            input_tokens: 100,
            output_tokens: 10,
            cache_read_tokens: 60,
            cache_write_5m_tokens: 30,
            cache_write_1h_tokens: 10,
            reasoning_tokens: 10,
        };
        assert_eq!(ok.check(), Ok(()));
        assert_eq!((ok.total(), ok.uncached_input_tokens(), ok.cache_write_tokens()), (110, 0, 40));
        let field = |u: TokenUsage| u.check().map_err(|e| e.field);
        assert_eq!(field(TokenUsage { cache_read_tokens: 61, ..ok }), Err("cache_read_tokens".into()));
        assert_eq!(
            field(TokenUsage::plain(10, 0))
                .and(field(TokenUsage { cache_write_1h_tokens: 11, ..TokenUsage::plain(10, 0) })),
            Err("cache_write_1h_tokens".into())
        );
        assert_eq!(field(TokenUsage { reasoning_tokens: 11, ..ok }), Err("reasoning_tokens".into()));
        assert_eq!(field(TokenUsage { cache_write_1h_tokens: -1, ..ok }), Err("cache_write_1h_tokens".into()));
        assert_eq!(field(TokenUsage::plain(MAX_TOKENS_PER_EVENT + 1, 0)), Err("input_tokens".into()));
        assert_eq!(field(TokenUsage::plain(0, -1)), Err("output_tokens".into()));
    }

    #[test]
    fn an_old_report_reads_as_plain_tokens() {
        let usage: TokenUsage = serde_json::from_str(r#"{"input_tokens": 5, "output_tokens": 7}"#).expect("json");
        assert_eq!(usage, TokenUsage::plain(5, 7));
    }
}
