//! Token-limit rules from PRODUCT.md, shared by the server and the browser: what a valid limit
//! is, how Usage % is computed and shown, and which colour band it falls in. When a call is
//! refused is `policy.rs`.

use crate::validation::FieldError;
use serde::{Deserialize, Serialize};
use std::fmt;

/// The largest accepted limit: 2^53, the largest integer every JSON client reads exactly.
pub const MAX_TOKEN_LIMIT: u64 = 1 << 53;

/// A positive whole number of tokens (input + output) per budget period.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "u64", into = "u64")]
pub struct TokenLimit(u64);

impl TokenLimit {
    /// Accepts 1..=2^53.
    pub fn new(tokens: u64) -> Result<Self, FieldError> {
        match tokens {
            0 => Err(limit_error("must be greater than 0")),
            n if n > MAX_TOKEN_LIMIT => Err(too_large()),
            n => Ok(Self(n)),
        }
    }

    /// Parses what a person typed. Only plain digits are a limit: `1000` yes; `0`, `-5`, `2.5`,
    /// `1e3`, `1,000` and `ten` no, each with a message saying why.
    pub fn parse(input: &str) -> Result<Self, FieldError> {
        let text = input.trim();
        if text.is_empty() {
            return Err(limit_error("required"));
        }
        let (negative, body) = match text.as_bytes()[0] {
            b'-' => (true, &text[1..]),
            b'+' => (false, &text[1..]),
            _ => (false, text),
        };
        let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
        if let Some((whole, fraction)) = body.split_once('.') {
            if digits(whole) && digits(fraction) && !(whole.is_empty() && fraction.is_empty()) {
                return Err(if negative {
                    limit_error("must be greater than 0")
                } else {
                    limit_error("must be a whole number of tokens, without a fraction")
                });
            }
        }
        if body.is_empty() || !digits(body) {
            return Err(limit_error("must be a whole number of tokens, like 100000"));
        }
        let significant = body.trim_start_matches('0');
        if significant.is_empty() {
            return Err(limit_error("must be greater than 0"));
        }
        if negative {
            return Err(limit_error("must be greater than 0"));
        }
        // More than 16 significant digits is above 2^53 (a 16-digit number) for sure.
        if significant.len() > 16 {
            return Err(too_large());
        }
        let value: u64 = significant.parse().map_err(|_| too_large())?;
        Self::new(value)
    }

    pub fn get(self) -> u64 {
        self.0
    }
}

fn limit_error(message: &str) -> FieldError {
    FieldError::new("token_limit", message)
}

fn too_large() -> FieldError {
    limit_error(&format!("must be at most {MAX_TOKEN_LIMIT}"))
}

impl TryFrom<u64> for TokenLimit {
    type Error = FieldError;
    fn try_from(value: u64) -> Result<Self, Self::Error> {
        Self::new(value)
    }
}

impl From<TokenLimit> for u64 {
    fn from(limit: TokenLimit) -> Self {
        limit.0
    }
}

impl fmt::Display for TokenLimit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// Parses the optional limit field of a form: empty means "No Limit".
pub fn parse_optional_limit(input: &str) -> Result<Option<TokenLimit>, FieldError> {
    if input.trim().is_empty() {
        Ok(None)
    } else {
        TokenLimit::parse(input).map(Some)
    }
}

/// Usage % = total_tokens / token_limit × 100, as the JSON API reports it.
pub fn usage_pct(total_tokens: u64, token_limit: TokenLimit) -> f64 {
    total_tokens as f64 / token_limit.get() as f64 * 100.0
}

/// The colour band of the Usage % cell.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum UsageBand {
    /// Below 80 %.
    Default,
    /// 80 % to below 100 %.
    Warning,
    /// 100 % and above: the tenant is refused.
    Danger,
}

impl UsageBand {
    /// The band of a usage, decided on integers so that Danger is exactly `used >= limit`,
    /// the same comparison that refuses calls (a float percentage can round across 100).
    pub fn for_usage(total_tokens: u64, token_limit: TokenLimit) -> Self {
        let (used, limit) = (u128::from(total_tokens), u128::from(token_limit.get()));
        if used >= limit {
            Self::Danger
        } else if used * 100 >= limit * 80 {
            Self::Warning
        } else {
            Self::Default
        }
    }

    /// The CSS class the console styles this band with.
    pub fn css_class(self) -> &'static str {
        match self {
            Self::Default => "usage-default",
            Self::Warning => "usage-warning",
            Self::Danger => "usage-danger",
        }
    }
}

/// Usage % for display with one decimal, rounded down so the text never reads "100.0%" for
/// a tenant that is still below its limit.
pub fn format_usage_pct(total_tokens: u64, token_limit: TokenLimit) -> String {
    let tenths = u128::from(total_tokens) * 1000 / u128::from(token_limit.get());
    format!("{}.{}%", tenths / 10, tenths % 10)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn limit(n: u64) -> TokenLimit {
        TokenLimit::new(n).expect("valid limit in test")
    }

    #[test]
    fn parse_examples() {
        assert_eq!(TokenLimit::parse(" 1000 ").map(TokenLimit::get), Ok(1000));
        assert_eq!(TokenLimit::parse("+7").map(TokenLimit::get), Ok(7));
        assert_eq!(TokenLimit::parse("0007").map(TokenLimit::get), Ok(7));
        assert_eq!(TokenLimit::parse("9007199254740992").map(TokenLimit::get), Ok(MAX_TOKEN_LIMIT));
        for (bad, why) in [
            ("", "required"),
            ("0", "greater than 0"),
            ("-0", "greater than 0"),
            ("-5", "greater than 0"),
            ("-2.5", "greater than 0"),
            ("2.5", "without a fraction"),
            ("1000.0", "without a fraction"),
            ("1e3", "whole number"),
            ("1,000", "whole number"),
            ("ten", "whole number"),
            (".", "whole number"),
            ("9007199254740993", "at most"),
            ("123456789012345678901234567890", "at most"),
        ] {
            let err = TokenLimit::parse(bad).expect_err(bad);
            assert_eq!(err.field, "token_limit");
            assert!(err.message.contains(why), "{bad}: {}", err.message);
        }
    }

    #[test]
    fn band_boundaries() {
        assert_eq!(UsageBand::for_usage(79, limit(100)), UsageBand::Default);
        assert_eq!(UsageBand::for_usage(80, limit(100)), UsageBand::Warning);
        assert_eq!(UsageBand::for_usage(99, limit(100)), UsageBand::Warning);
        assert_eq!(UsageBand::for_usage(100, limit(100)), UsageBand::Danger);
        assert_eq!(format_usage_pct(9999, limit(10000)), "99.9%");
        assert_eq!(format_usage_pct(1050, limit(1000)), "105.0%");
    }

    proptest! {
        #[test]
        fn only_positive_integers_up_to_2_pow_53_are_accepted(n in any::<u64>()) {
            let parsed = TokenLimit::parse(&n.to_string());
            prop_assert_eq!(parsed.is_ok(), (1..=MAX_TOKEN_LIMIT).contains(&n));
            if let Ok(l) = parsed { prop_assert_eq!(l.get(), n); }
        }

        #[test]
        fn negatives_are_rejected(n in 1u64..) {
            let text = format!("-{n}");
            prop_assert!(TokenLimit::parse(&text).is_err());
        }

        #[test]
        fn fractions_are_rejected(x in 0.0f64..1e12, frac in 1u32..1000) {
            let text = format!("{}.{frac:03}", x.trunc() as u64);
            prop_assert!(TokenLimit::parse(&text).is_err());
        }

        #[test]
        fn accepted_text_is_exactly_digits(s in "\\PC{0,24}") {
            if let Ok(l) = TokenLimit::parse(&s) {
                let t = s.trim().trim_start_matches('+');
                prop_assert!(t.bytes().all(|b| b.is_ascii_digit()));
                prop_assert_eq!(t.trim_start_matches('0'), l.get().to_string());
            }
        }

        /// The JSON figure is the exact ratio up to float rounding: read back in millionths of
        /// a percent and compared with the rational used × 100 / limit by cross-multiplying.
        #[test]
        fn usage_pct_is_the_exact_ratio_within_float_rounding(used in 0u64..1u64 << 53, l in 1..=MAX_TOKEN_LIMIT) {
            let millionths = (usage_pct(used, limit(l)) * 1e6).round() as u128;
            let (num, den) = (u128::from(used) * 100 * 1_000_000, u128::from(l));
            // Allowed error: the rounding to millionths, plus 1e-12 of the value for the float.
            let slack = 2 + num / den / 1_000_000_000_000;
            prop_assert!(millionths * den <= num + slack * den, "{} above {used}/{l}", millionths);
            prop_assert!(num <= (millionths + slack) * den, "{} below {used}/{l}", millionths);
        }

        #[test]
        fn integer_band_agrees_with_exact_percentage(used in 0u64..1u64 << 40, l in 1u64..1u64 << 40) {
            // Compare against exact rational arithmetic: used/l >= 0.8  <=>  5·used >= 4·l.
            let (u, l128) = (u128::from(used), u128::from(l));
            let expected = if u >= l128 { UsageBand::Danger } else if 5 * u >= 4 * l128 { UsageBand::Warning } else { UsageBand::Default };
            prop_assert_eq!(UsageBand::for_usage(used, limit(l)), expected);
        }

        #[test]
        fn displayed_pct_never_reaches_100_below_the_limit(used in 0u64..1u64 << 40, l in 1u64..1u64 << 40) {
            let text = format_usage_pct(used, limit(l));
            let shown: f64 = text.trim_end_matches('%').parse().expect("number");
            prop_assert_eq!(shown >= 100.0, used >= l);
        }

        /// The text the table shows, read back as an exact number of tenths, against the exact
        /// rational used/limit × 100: it is never above it, less than a tenth below it, never
        /// "100" or more below the limit and never below "100" at or above it.
        #[test]
        fn displayed_pct_is_the_exact_ratio_rounded_down_to_a_tenth(used in 0u64..=MAX_TOKEN_LIMIT, l in 1..=MAX_TOKEN_LIMIT) {
            let text = format_usage_pct(used, limit(l));
            let (whole, tenth) = text.strip_suffix('%').and_then(|t| t.split_once('.')).expect("N.N%");
            prop_assert!(whole.bytes().all(|b| b.is_ascii_digit()) && tenth.len() == 1, "{text}");
            let tenths: u128 = format!("{whole}{tenth}").parse().expect("digits");
            // shown = tenths / 10 %; exact = used × 100 / l %. Compare tenths/10 with used·100/l.
            let (exact_num, exact_den) = (u128::from(used) * 1000, u128::from(l));
            prop_assert!(tenths * exact_den <= exact_num, "{text} is above the exact {used}/{l}");
            prop_assert!((tenths + 1) * exact_den > exact_num, "{text} is more than a tenth below {used}/{l}");
            prop_assert_eq!(tenths >= 1000, used >= l, "{}", text);
        }

        #[test]
        fn displayed_pct_examples_at_the_boundaries(l in 1u64..1u64 << 40) {
            prop_assert_eq!(format_usage_pct(l, limit(l)), "100.0%");
            prop_assert_eq!(format_usage_pct(0, limit(l)), "0.0%");
            if l > 1 {
                prop_assert!(!format_usage_pct(l - 1, limit(l)).starts_with("100"));
            }
        }
    }
}
