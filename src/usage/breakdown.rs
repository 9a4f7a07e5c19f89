//! A tenant's usage by end user and by model over a chosen range (the tenant page's "Usage by
//! user" and "Usage by model"). Pure: the range arithmetic and the rows; the query is
//! `store::breakdown`.

use serde::{Deserialize, Serialize};

/// The ranges the console offers; the names are the URL values (`?range=7d`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum UsageRange {
    /// The tenant's current period (the default).
    #[default]
    #[serde(rename = "period")]
    Period,
    #[serde(rename = "7d")]
    Days7,
    #[serde(rename = "24h")]
    Hours24,
}

impl UsageRange {
    pub const ALL: [Self; 3] = [Self::Period, Self::Days7, Self::Hours24];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Period => "period",
            Self::Days7 => "7d",
            Self::Hours24 => "24h",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Self::Period => "This period",
            Self::Days7 => "Last 7 days",
            Self::Hours24 => "Last 24 hours",
        }
    }

    /// Anything unknown is the default, as for every URL parameter of the console.
    pub fn parse(text: &str) -> Self {
        Self::ALL.into_iter().find(|r| r.as_str() == text).unwrap_or_default()
    }

    /// Where the range starts, at `now`, for a tenant whose period started at `period_start`.
    pub fn start(self, now: i64, period_start: i64) -> i64 {
        match self {
            Self::Period => period_start,
            Self::Days7 => now - 7 * 86_400_000,
            Self::Hours24 => now - 86_400_000,
        }
    }
}

/// One user's or one model's usage in the range.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BreakdownRow {
    /// The user id or the model; `None`: events that named no user.
    pub key: Option<String>,
    /// Every prompt token, cached ones included.
    pub input_tokens: i64,
    pub output_tokens: i64,
    /// Of `input_tokens`: read from a prompt cache, and written to one.
    #[serde(default)]
    pub cache_read_tokens: i64,
    #[serde(default)]
    pub cache_write_tokens: i64,
    /// Of `output_tokens`: spent reasoning.
    #[serde(default)]
    pub reasoning_tokens: i64,
    pub cost_micros: i64,
    pub event_count: i64,
}

impl BreakdownRow {
    pub fn total_tokens(&self) -> i64 {
        self.input_tokens + self.output_tokens
    }
}

/// The most rows each table shows (the biggest users first).
pub const BREAKDOWN_ROWS: u32 = 50;

/// A tenant's usage in a range, by user and by model, biggest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UsageBreakdown {
    pub range: UsageRange,
    /// Unix ms the range starts at (it ends now).
    pub from: i64,
    pub by_user: Vec<BreakdownRow>,
    pub by_model: Vec<BreakdownRow>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_round_trip_and_start_where_they_say() {
        for r in UsageRange::ALL {
            assert_eq!(UsageRange::parse(r.as_str()), r);
            assert_eq!(serde_json::to_string(&r).expect("json"), format!("\"{}\"", r.as_str()));
        }
        assert_eq!(UsageRange::parse("forever"), UsageRange::Period);
        let (now, period_start) = (10 * 86_400_000, 3 * 86_400_000);
        assert_eq!(UsageRange::Period.start(now, period_start), period_start);
        assert_eq!(UsageRange::Days7.start(now, period_start), 3 * 86_400_000);
        assert_eq!(UsageRange::Hours24.start(now, period_start), 9 * 86_400_000);
    }
}
