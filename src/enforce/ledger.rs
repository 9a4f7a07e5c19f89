//! The in-process ledger of one tenant, for single-instance (SQLite) mode: what admission
//! decides from. Pure — no I/O, no clock, no locks: the enforcer wraps each ledger in a
//! mutex, the check admits from it, and the writer applies committed totals to it.
//!
//! Invariant: `used_tokens` is the committed counter of `period_start` as of the last batch
//! the writer applied; `reserved_tokens` is the sum of the open reservations.

use crate::limits::period::{current_period, Period};
use crate::limits::{admit, TokenLimit};
use std::collections::HashMap;

/// A tenant's settings, as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TenantSettings {
    pub token_limit: Option<TokenLimit>,
    pub period_anchor: i64,
    pub period_days: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Reservation {
    tokens: u64,
    expires_at: i64,
}

/// The outcome of admitting one check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Admission {
    pub allowed: bool,
    pub used_tokens: u64,
    /// Reserved tokens of the tenant after this check (including its own reservation).
    pub reserved_tokens: u64,
    pub token_limit: Option<TokenLimit>,
    pub period: Period,
    /// Set when the check was allowed with an estimate.
    pub reservation: Option<(u64, i64)>,
}

#[derive(Debug, Clone)]
pub struct TenantLedger {
    settings: TenantSettings,
    period_start: i64,
    used_tokens: u64,
    reserved_tokens: u64,
    reservations: HashMap<u64, Reservation>,
}

impl TenantLedger {
    /// A ledger for `settings` whose period starting at `period_start` has `used_tokens`.
    pub fn new(settings: TenantSettings, period_start: i64, used_tokens: u64) -> Self {
        Self { settings, period_start, used_tokens, reserved_tokens: 0, reservations: HashMap::new() }
    }

    pub fn settings(&self) -> TenantSettings {
        self.settings
    }

    pub fn used_tokens(&self) -> u64 {
        self.used_tokens
    }

    pub fn reserved_tokens(&self) -> u64 {
        self.reserved_tokens
    }

    /// Moves to the period containing `now`; a new period starts with nothing used or reserved.
    fn roll(&mut self, now: i64) -> Period {
        let period = current_period(self.settings.period_anchor, self.settings.period_days, now);
        if period.start != self.period_start {
            self.period_start = period.start;
            self.used_tokens = 0;
            self.reserved_tokens = 0;
            self.reservations.clear();
        }
        period
    }

    /// Drops reservations that expired at or before `now`.
    pub fn expire(&mut self, now: i64) {
        let before = self.reservations.len();
        self.reservations.retain(|_, r| r.expires_at > now);
        if self.reservations.len() != before {
            self.reserved_tokens = self.reservations.values().map(|r| r.tokens).sum();
        }
    }

    /// Admits a check of `estimated_tokens` at `now`; when admitted with an estimate, reserves
    /// it under `reservation_id` until `expires_at`.
    pub fn admit(&mut self, now: i64, estimated_tokens: u64, reservation_id: u64, expires_at: i64) -> Admission {
        let period = self.roll(now);
        self.expire(now);
        let allowed = admit(self.used_tokens, self.reserved_tokens, estimated_tokens, self.settings.token_limit);
        let reservation = (allowed && estimated_tokens > 0).then(|| {
            self.reservations.insert(reservation_id, Reservation { tokens: estimated_tokens, expires_at });
            self.reserved_tokens += estimated_tokens;
            (reservation_id, expires_at)
        });
        Admission {
            allowed,
            used_tokens: self.used_tokens,
            reserved_tokens: self.reserved_tokens,
            token_limit: self.settings.token_limit,
            period,
            reservation,
        }
    }

    /// Applies a committed counter total of `period_start`.
    pub fn apply_commit(&mut self, period_start: i64, used_tokens: u64) {
        if period_start == self.period_start {
            self.used_tokens = used_tokens;
        } else if period_start > self.period_start {
            // The writer saw the new period first: the ledger follows it.
            self.period_start = period_start;
            self.used_tokens = used_tokens;
            self.reserved_tokens = 0;
            self.reservations.clear();
        }
    }

    /// Releases a reservation whose report has committed (its actual usage is now in
    /// `used_tokens`); an unknown or expired id changes nothing.
    pub fn settle(&mut self, reservation_id: u64) {
        if let Some(r) = self.reservations.remove(&reservation_id) {
            self.reserved_tokens -= r.tokens;
        }
    }

    /// New settings read from the database (a limit changed by another process).
    pub fn set_settings(&mut self, settings: TenantSettings) {
        self.settings = settings;
    }

    /// New settings (a changed limit); usage is kept when the period is unchanged.
    pub fn update_settings(&mut self, settings: TenantSettings, period_start: i64, used_tokens: u64) {
        self.settings = settings;
        self.apply_commit(period_start, used_tokens);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::limits::period::DAY_MS;
    use proptest::prelude::*;

    fn ledger(limit: u64) -> TenantLedger {
        let settings = TenantSettings { token_limit: TokenLimit::new(limit).ok(), period_anchor: 0, period_days: 30 };
        TenantLedger::new(settings, 0, 0)
    }

    #[test]
    fn reserves_until_settled_or_expired() {
        let mut l = ledger(100);
        assert!(l.admit(0, 60, 1, 1_000).allowed);
        assert!(!l.admit(0, 60, 2, 1_000).allowed, "60 + 60 reserved > 100");
        assert!(l.admit(0, 40, 3, 1_000).allowed);
        // Report of id 1 commits with actual usage 50 (less than its estimate of 60).
        l.apply_commit(0, 50);
        l.settle(1);
        assert_eq!((l.used_tokens(), l.reserved_tokens()), (50, 40));
        assert!(l.admit(0, 10, 4, 1_000).allowed);
        assert!(!l.admit(0, 1, 5, 1_000).allowed);
        l.expire(1_000);
        assert_eq!(l.reserved_tokens(), 0);
        assert!(l.admit(1_000, 50, 6, 2_000).allowed);
    }

    #[test]
    fn a_new_period_starts_empty() {
        let mut l = ledger(100);
        l.apply_commit(0, 100);
        assert!(!l.admit(DAY_MS, 0, 1, 0).allowed);
        let a = l.admit(30 * DAY_MS, 0, 1, 0);
        assert!(a.allowed);
        assert_eq!((a.used_tokens, a.period.start), (0, 30 * DAY_MS));
        // A late commit of the old period does not touch the new one.
        l.apply_commit(0, 120);
        assert_eq!(l.used_tokens(), 0);
    }

    proptest! {
        /// Whatever the order of checks, admitted estimates never exceed the limit while
        /// nothing is settled: exactly floor(limit / e) of any number of checks of e fit.
        #[test]
        fn admitted_estimates_never_exceed_the_limit(k in 1u64..50, e in 1u64..10_000, extra in 0u64..50) {
            let mut l = ledger(k * e);
            let admitted = (0..k + extra).filter(|i| l.admit(0, e, *i, 1_000).allowed).count() as u64;
            prop_assert_eq!(admitted, k);
            prop_assert_eq!(l.reserved_tokens(), k * e);
        }

        #[test]
        fn reserved_is_the_sum_of_open_reservations(ops in prop::collection::vec((0u8..3, 1u64..100, 0i64..100), 0..200)) {
            let mut l = ledger(5_000);
            let mut open: HashMap<u64, (u64, i64)> = HashMap::new();
            let mut now = 0;
            for (i, (op, tokens, dt)) in ops.into_iter().enumerate() {
                let id = i as u64;
                match op {
                    0 => if l.admit(now, tokens, id, now + 50).allowed { open.insert(id, (tokens, now + 50)); },
                    1 => if let Some(&victim) = open.keys().next() { open.remove(&victim); l.settle(victim); },
                    _ => { now += dt; open.retain(|_, (_, exp)| *exp > now); l.expire(now); },
                }
                prop_assert_eq!(l.reserved_tokens(), open.values().map(|(t, _)| t).sum::<u64>());
            }
        }
    }
}
