//! Number formatting for the console, shared by server rendering and the browser so both
//! produce the same text (a hydration mismatch would otherwise flicker).

/// `1234567` → `"1,234,567"`.
pub fn format_count(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3 + 1);
    if n < 0 {
        out.push('-');
    }
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Micro-USD as dollars and cents: `1_234_567_890` → `"$1,234.57"`.
pub fn format_usd(micros: i64) -> String {
    let cents = (micros + 5_000).div_euclid(10_000);
    format!("${}.{:02}", format_count(cents.div_euclid(100)), cents.rem_euclid(100))
}

// Dates are built from chrono's fields rather than its `format("%Y…")`: the strftime
// machinery is a sizeable part of the browser bundle and these two shapes are all we show.

/// `"2026-12-01"` for a Unix-millisecond instant (UTC).
pub fn format_date(ms: i64) -> String {
    use chrono::Datelike;
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| format!("{:04}-{:02}-{:02}", t.year(), t.month(), t.day()))
        .unwrap_or_default()
}

/// `"2026-12-01 14:05 UTC"` for a Unix-millisecond instant.
pub fn format_datetime(ms: i64) -> String {
    use chrono::Timelike;
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| format!("{} {:02}:{:02} UTC", format_date(ms), t.hour(), t.minute()))
        .unwrap_or_default()
}

/// `"Resets on 2026-12-01 (25 days)"`.
pub fn format_reset(now: i64, resets_at: i64) -> String {
    let days = crate::limits::period::days_until(now, resets_at);
    let unit = if days == 1 { "day" } else { "days" };
    format!("Resets on {} ({days} {unit})", format_date(resets_at))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        assert_eq!(format_count(0), "0");
        assert_eq!(format_count(999), "999");
        assert_eq!(format_count(1000), "1,000");
        assert_eq!(format_count(-1_234_567), "-1,234,567");
        assert_eq!(format_usd(0), "$0.00");
        assert_eq!(format_usd(1_234_567_890), "$1,234.57");
        assert_eq!(format_usd(999_999), "$1.00");
        assert_eq!(format_usd(4_999), "$0.00");
        assert_eq!(format_date(0), "1970-01-01");
        assert_eq!(format_datetime(90_000), "1970-01-01 00:01 UTC");
        let day = crate::limits::period::DAY_MS;
        assert_eq!(format_reset(0, 25 * day), "Resets on 1970-01-26 (25 days)");
        assert_eq!(format_reset(0, day - 5), "Resets on 1970-01-01 (1 day)");
    }
}
