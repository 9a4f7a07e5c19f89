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
        if i > 0 && (digits.len() - i) % 3 == 0 {
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
    }
}
