//! Budget-period arithmetic. A period begins at an anchor (when the tenant was created) and
//! repeats every `period_days`; `resets_at` is the first `anchor + k × duration` strictly
//! after now. Counters are kept per period start, so a new period starts from zero.
//!
//! A new duration never cuts the current period short ([`Schedule::with_days`]): it takes
//! effect at the current period's reset, so no role can empty its own usage by saving a
//! setting. All instants are Unix milliseconds (UTC), as stored in the database.

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

/// A tenant's periods: every `days` from `anchor`, until a scheduled change (`next`) starts
/// periods of another length at one of those resets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Schedule {
    pub anchor: i64,
    pub days: u32,
    pub next: Option<NextPeriods>,
}

/// Periods of `days` that begin at `from`, a reset of the periods before them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NextPeriods {
    pub from: i64,
    pub days: u32,
}

impl Schedule {
    /// Periods of `days` from `anchor`, with no change scheduled.
    pub fn every(anchor: i64, days: u32) -> Self {
        Self { anchor, days, next: None }
    }

    /// The schedule as stored: `next_days` and `next_from` are set together or not at all.
    pub fn from_stored(anchor: i64, days: i64, next_days: Option<i64>, next_from: Option<i64>) -> Self {
        let days_of = |d: i64| u32::try_from(d).ok().filter(|d| *d > 0);
        let next = match (next_days.and_then(days_of), next_from) {
            (Some(days), Some(from)) => Some(NextPeriods { from, days }),
            _ => None,
        };
        Self { anchor, days: days_of(days).unwrap_or(DEFAULT_PERIOD_DAYS), next }
    }

    /// The period containing `now`.
    pub fn period_at(&self, now: i64) -> Period {
        match self.next {
            Some(next) if now >= next.from => current_period(next.from, next.days, now),
            _ => current_period(self.anchor, self.days, now),
        }
    }

    /// The same periods with a change that has begun by `now` folded in.
    pub fn settled(&self, now: i64) -> Self {
        match self.next {
            Some(next) if now >= next.from => Self::every(next.from, next.days),
            _ => *self,
        }
    }

    /// The length periods will have once any scheduled change has begun: what was last asked for.
    pub fn configured_days(&self) -> u32 {
        self.next.map_or(self.days, |n| n.days)
    }

    /// The schedule after `days` is asked for at `now`: the current period runs to its reset
    /// and periods of `days` begin there. Asking for the current length cancels a pending change.
    pub fn with_days(&self, days: u32, now: i64) -> Self {
        let settled = self.settled(now);
        if days.max(1) == settled.days {
            return Self::every(settled.anchor, settled.days);
        }
        let from = settled.period_at(now).resets_at;
        Self { next: Some(NextPeriods { from, days: days.max(1) }), ..settled }
    }
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

        /// Asking for a new duration at any moment never changes the period that moment is in
        /// (so no usage is emptied), and from that period's reset on, the periods are exactly
        /// those of a schedule of the new length anchored at the reset. Checked against a model
        /// that walks the periods one by one from the anchor, not against `period_at` itself.
        #[test]
        fn a_new_duration_begins_at_the_next_reset(
            anchor in 0i64..4_000_000_000_000,
            first in prop::sample::select(vec![30u32, 60, 90]),
            changes in prop::collection::vec((0i64..200 * DAY_MS, prop::sample::select(vec![30u32, 60, 90])), 1..5),
            probe in 0i64..400 * DAY_MS,
        ) {
            // The model: the points where the period length changes, as (start, length); the
            // period containing t is found by stepping from the last such point at or before t.
            let containing = |points: &[(i64, u32)], t: i64| {
                let (mut start, len) = points.iter().rev().find(|(s, _)| *s <= t).copied().unwrap_or(points[0]);
                let step = i64::from(len) * DAY_MS;
                if t > start {
                    start += (t - start) / step * step;
                }
                Period { start, resets_at: start + step }
            };
            let mut points = vec![(anchor, first)];
            let mut schedule = Schedule::every(anchor, first);
            let mut at = anchor;
            for (step, days) in changes {
                at += step;
                let before = schedule.period_at(at);
                prop_assert_eq!(before, containing(&points, at));
                schedule = schedule.with_days(days, at);
                prop_assert_eq!(schedule.period_at(at), before, "a change moved the current period");
                // A change replaces any change still pending and begins at the current reset.
                points.retain(|(s, _)| *s <= before.start);
                points.push((before.resets_at, days));
            }
            let now = at + probe;
            prop_assert_eq!(schedule.period_at(now), containing(&points, now));
        }

        #[test]
        fn retry_after_is_positive_and_covers_the_wait(now in 0i64..1i64 << 45, wait in -10_000i64..1i64 << 35) {
            let secs = seconds_until(now, now + wait) as i64;
            prop_assert!(secs >= 1);
            prop_assert!(secs * 1000 >= wait);
        }
    }
}
