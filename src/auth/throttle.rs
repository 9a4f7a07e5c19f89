//! Sign-in throttling rules (pure). Failed sign-ins are counted over a window under several
//! keys, and an attempt may be tried only when each count allows it:
//!
//! - **one account from one address** (5): guessing one password from one place is stopped,
//!   but only that pair is stopped — the account's owner elsewhere signs in as usual;
//! - **one address** (20, across accounts): spraying many accounts from one place is stopped;
//! - **one account from everywhere**: past 10 failures, attempts from browsers the user never
//!   signed in from are *slowed*, not locked: each must wait a delay that doubles with every
//!   further failure (1 s, 2 s, … at most a minute) after the last one. A distributed guesser
//!   gets about one guess a minute; the owner's own browser (a trusted device, remembered at
//!   each sign-in) is not slowed, so an attacker cannot keep them out;
//! - **one trusted device** (5): a stolen device cookie is not a way around the limits — past
//!   five failures it counts as untrusted.
//!
//! Each attempt is decided and, when it may be tried, recorded as a failure *before* its
//! password is checked, while its keys are locked (`auth::store::count_attempt`): concurrent
//! attempts count against each other (30 at once get 5 checks, not 30). A refused attempt is
//! not recorded; a success removes its record.

/// Failures are counted over this window.
pub const WINDOW_MS: i64 = 15 * 60 * 1000;
/// Failures of one account from one address before that pair waits for the window.
pub const MAX_PER_ACCOUNT_AND_ADDRESS: i64 = 5;
/// Failures from one address, across accounts, before it waits for the window.
pub const MAX_PER_ADDRESS: i64 = 20;
/// Failures of one account, from everywhere, before untrusted attempts are slowed.
pub const SLOW_DOWN_AFTER: i64 = 10;
/// The longest delay between two untrusted attempts on one account.
pub const MAX_DELAY_MS: i64 = 60_000;
/// Failures from one trusted device before it counts as untrusted.
pub const MAX_PER_DEVICE: i64 = 5;

/// The failures counted for one attempt, its own included.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// This account from this address.
    pub pair: i64,
    /// This address, any account.
    pub address: i64,
    /// This account, anywhere.
    pub account: i64,
    /// This browser's device cookie, when it is trusted for this account.
    pub device: Option<i64>,
    /// The latest failure of this account before this attempt.
    pub last_account_failure_at: Option<i64>,
}

/// May the attempt be tried?
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Try,
    /// Not now: try again in this many milliseconds.
    Wait(i64),
}

/// How long untrusted attempts on an account wait after its last failure, given its failures.
pub fn delay_ms(account_failures: i64) -> i64 {
    if account_failures <= SLOW_DOWN_AFTER {
        return 0;
    }
    let doublings = (account_failures - SLOW_DOWN_AFTER - 1).min(16);
    (1000i64 << doublings).min(MAX_DELAY_MS)
}

/// The rule: a trusted device within its own limit is tried (the address's limit still
/// holds); otherwise the pair, the address and the account's slow-down each may say wait.
pub fn decide(counts: Counts, now: i64) -> Verdict {
    let window = Verdict::Wait(WINDOW_MS);
    if counts.address > MAX_PER_ADDRESS {
        return window;
    }
    if counts.device.is_some_and(|d| d <= MAX_PER_DEVICE) {
        return Verdict::Try;
    }
    if counts.pair > MAX_PER_ACCOUNT_AND_ADDRESS {
        return window;
    }
    // Slowed by the failures before this attempt, measured from the last of them.
    let wait = match counts.last_account_failure_at {
        Some(last) => (last + delay_ms(counts.account - 1) - now).max(0),
        None => 0,
    };
    if wait > 0 {
        Verdict::Wait(wait)
    } else {
        Verdict::Try
    }
}

/// Seconds to put in `Retry-After`: rounded up, at least one.
pub fn retry_after_secs(wait_ms: i64) -> u64 {
    (wait_ms.max(1) as u64).div_ceil(1000)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn counts(pair: i64, address: i64, account: i64) -> Counts {
        Counts { pair, address, account, device: None, last_account_failure_at: None }
    }

    #[test]
    fn five_tries_per_account_and_address() {
        assert_eq!(decide(counts(5, 5, 5), 0), Verdict::Try, "the fifth attempt is tried");
        assert_eq!(decide(counts(6, 6, 6), 0), Verdict::Wait(WINDOW_MS));
        // Another address, same account: tried.
        assert_eq!(decide(counts(1, 1, 6), 0), Verdict::Try);
        assert_eq!(decide(counts(1, 21, 1), 0), Verdict::Wait(WINDOW_MS), "the address sprayed 20 accounts");
    }

    #[test]
    fn many_failures_slow_untrusted_attempts_but_not_the_owners_device() {
        let last = 1_000_000;
        let attacked = Counts { pair: 1, address: 1, account: 13, device: None, last_account_failure_at: Some(last) };
        // 12 failures before this attempt, the second beyond the threshold: 2 s after the last.
        assert_eq!((delay_ms(10), delay_ms(11), delay_ms(12)), (0, 1000, 2000));
        assert_eq!(decide(attacked, last + 1000), Verdict::Wait(1000));
        assert_eq!(decide(attacked, last + 2000), Verdict::Try);
        let owner = Counts { device: Some(1), ..attacked };
        assert_eq!(decide(owner, last + 1), Verdict::Try);
        let stolen_cookie = Counts { device: Some(6), ..attacked };
        assert_eq!(decide(stolen_cookie, last + 1), Verdict::Wait(1999));
        assert_eq!(delay_ms(100), MAX_DELAY_MS);
        assert_eq!(retry_after_secs(3000), 3);
        assert_eq!(retry_after_secs(1), 1);
    }

    proptest! {
        /// Against a model of the policy as stated: tried exactly when the address is within
        /// its limit and either a trusted device is within its own, or the pair is within its
        /// limit and the slow-down (computed independently as 2^k seconds, capped) has passed.
        #[test]
        fn the_rule_matches_its_statement(pair in 1i64..12, address in 1i64..30, account in 1i64..40,
                                          device in prop::option::of(1i64..10), since_last in 0i64..120_000) {
            let now = 10_000_000;
            let c = Counts { pair, address, account, device, last_account_failure_at: Some(now - since_last) };
            let before = account - 1;
            let mut delay = 0i64;
            if before > SLOW_DOWN_AFTER {
                delay = 1000;
                for _ in 0..(before - SLOW_DOWN_AFTER - 1) {
                    delay = (delay * 2).min(MAX_DELAY_MS);
                }
            }
            let trusted = device.is_some_and(|d| d <= 5);
            let expected_try = address <= 20 && (trusted || (pair <= 5 && since_last >= delay));
            prop_assert_eq!(decide(c, now) == Verdict::Try, expected_try);
            // Never a wait longer than the window.
            if let Verdict::Wait(ms) = decide(c, now) {
                prop_assert!(ms > 0 && ms <= WINDOW_MS);
            }
        }
    }
}
