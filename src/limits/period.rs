//! Budget-period arithmetic. A period begins at an anchor (when the tenant or its policy was
//! created) and repeats every `period_days`; `resets_at` is the first `anchor + k × duration`
//! strictly after now. Counters are kept per period start, so a new period starts from zero.
//! All instants are Unix milliseconds (UTC), as stored in the database.

pub const DAY_MS: i64 = 86_400_000;

/// The default budget period, in days.
pub const DEFAULT_PERIOD_DAYS: u32 = 30;

/// One budget period: `start <= now < resets_at`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Period {
    pub start: i64,
    pub resets_at: i64,
}

/// The period containing `now`. Before the anchor (a clock that stepped back) it is the first
/// period, so counters never go to a period that has not begun.
pub fn current_period(anchor: i64, period_days: u32, now: i64) -> Period {
    let duration = i64::from(period_days.max(1)) * DAY_MS;
    let elapsed = now.saturating_sub(anchor).max(0);
    let start = anchor + (elapsed / duration) * duration;
    Period { start, resets_at: start + duration }
}

/// Whole seconds until `resets_at`, rounded up and at least 1: the `Retry-After` value.
pub fn seconds_until(now: i64, resets_at: i64) -> u64 {
    let ms = resets_at.saturating_sub(now).max(1);
    ((ms + 999) / 1000) as u64
}

/// Whole days until `resets_at`, rounded up ("Resets on … (25 days)").
pub fn days_until(now: i64, resets_at: i64) -> i64 {
    let ms = resets_at.saturating_sub(now).max(0);
    (ms + DAY_MS - 1) / DAY_MS
}

/// RFC 3339 text for a Unix-millisecond instant, as the JSON API returns times.
pub fn rfc3339(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn date_of(ms: i64) -> String {
        chrono::DateTime::from_timestamp_millis(ms).map(|t| t.format("%Y-%m-%d").to_string()).unwrap_or_default()
    }

    #[test]
    fn examples() {
        let p = current_period(0, 30, 0);
        assert_eq!(p, Period { start: 0, resets_at: 30 * DAY_MS });
        let p = current_period(0, 30, 30 * DAY_MS);
        assert_eq!(p.start, 30 * DAY_MS, "the reset instant itself begins the next period");
        let p = current_period(1_000, 30, 0);
        assert_eq!(p.start, 1_000, "before the anchor: the first period");
        assert_eq!(seconds_until(0, 1), 1);
        assert_eq!(seconds_until(0, 1_001), 2);
        assert_eq!(days_until(0, DAY_MS + 1), 2);
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        // 2024-01-31 + 30 days crosses the leap day: 2024-03-01.
        let jan31 = 1_706_659_200_000;
        assert_eq!(date_of(current_period(jan31, 30, jan31).resets_at), "2024-03-01");
        assert_eq!(date_of(current_period(jan31, 90, jan31).resets_at), "2024-04-30");
    }

    proptest! {
        #[test]
        fn period_contains_now_and_is_aligned_to_the_anchor(
            anchor in 0i64..4_000_000_000_000,
            days in prop::sample::select(vec![1u32, 30, 60, 90]),
            offset in 0i64..2_000_000_000_000,
        ) {
            let now = anchor + offset;
            let p = current_period(anchor, days, now);
            let duration = i64::from(days) * DAY_MS;
            prop_assert!(p.start <= now && now < p.resets_at);
            prop_assert_eq!(p.resets_at - p.start, duration);
            prop_assert_eq!((p.resets_at - anchor) % duration, 0);
            prop_assert!(p.resets_at > anchor, "resets_at is anchor + k·duration with k >= 1");
        }

        /// Reset dates for every budget duration, with anchors across month ends and leap years
        /// (2023–2030), against chrono's calendar: the reset is the anchor's date and time plus
        /// (k + 1) × duration days, where k periods have passed.
        #[test]
        fn reset_dates_follow_the_calendar(anchor_s in 1_672_531_200i64..1_924_992_000, days in prop::sample::select(vec![30u32, 60, 90]),
                                           k in 0i64..12, into in 0i64..86_400 * 30) {
            use chrono::{DateTime, Days};
            let anchor = anchor_s * 1000;
            let into_ms = (into * 1000) % (i64::from(days) * DAY_MS);
            let now = anchor + k * i64::from(days) * DAY_MS + into_ms;
            let p = current_period(anchor, days, now);
            let anchor_time = DateTime::from_timestamp_millis(anchor).expect("instant");
            let expected = anchor_time.checked_add_days(Days::new((k as u64 + 1) * u64::from(days))).expect("date");
            prop_assert_eq!(p.resets_at, expected.timestamp_millis());
            prop_assert_eq!(date_of(p.resets_at), expected.format("%Y-%m-%d").to_string());
        }

        #[test]
        fn retry_after_is_positive_and_covers_the_wait(now in 0i64..1i64 << 45, wait in -10_000i64..1i64 << 35) {
            let secs = seconds_until(now, now + wait) as i64;
            prop_assert!(secs >= 1);
            prop_assert!(secs * 1000 >= wait);
        }
    }
}
