//! The in-process ledger of one tenant, for single-instance (SQLite) mode: what admission
//! decides from. Pure — no I/O, no clock, no locks: the local engine wraps each ledger in a
//! mutex, a check admits from it, and the writer applies committed totals to it.
//!
//! Invariant: `usage.used_tokens` is the committed counter of `period_start` as of the last
//! batch the writer applied; `usage.reserved_tokens` is the sum of the open reservations. The
//! same holds per user for the users with an override (`users`): their committed counters and
//! the sum of the open reservations made for them.

use super::admission::{Admission, Reservation, ReservationId};
use crate::limits::{Demand, EnforcementMode, Policy, Usage, UserUsage};
use std::collections::{BTreeSet, HashMap};

#[derive(Debug, Clone, PartialEq, Eq)]
struct Held {
    demand: Demand,
    expires_at: i64,
    /// The user whose override also holds this demand.
    user: Option<String>,
}

#[derive(Debug, Clone)]
pub struct TenantLedger {
    policy: Policy,
    period_start: i64,
    usage: Usage,
    /// The users with an override, each with their own counter.
    users: HashMap<String, UserUsage>,
    reservations: HashMap<ReservationId, Held>,
    /// The open reservations by expiry, so each admission expires only what has expired
    /// (a scan of every open reservation per call grew with the calls in flight).
    expiries: BTreeSet<(i64, ReservationId)>,
}

impl TenantLedger {
    /// A ledger for `policy` whose period starting at `period_start` has `committed` usage.
    pub fn new(policy: Policy, period_start: i64, committed: Committed) -> Self {
        let mut ledger = Self {
            policy,
            period_start,
            usage: Usage::default(),
            users: HashMap::new(),
            reservations: HashMap::new(),
            expiries: BTreeSet::new(),
        };
        ledger.start_period(period_start, committed);
        ledger
    }

    /// The tenant's overrides, each with the user's committed tokens this period; replaces the
    /// ones before. Open reservations count against the users that still have an override.
    pub fn set_overrides(&mut self, overrides: HashMap<String, UserUsage>) {
        self.users = overrides;
        self.recount_reserved();
    }

    /// The overrides' limits as they are now (another process may have changed them).
    pub fn overridden_users(&self) -> impl Iterator<Item = (&str, UserUsage)> {
        self.users.iter().map(|(u, usage)| (u.as_str(), *usage))
    }

    /// New limits for the users already overridden (another process changed them).
    pub fn set_override_limits(&mut self, limits: &HashMap<String, crate::limits::TokenLimit>) {
        for (user, meter) in &mut self.users {
            if let Some(limit) = limits.get(user) {
                meter.limit = *limit;
            }
        }
    }

    pub fn open_reservations(&self) -> usize {
        self.reservations.len()
    }

    /// Applies a committed user counter of `period_start` (users without an override are not kept).
    pub fn apply_user_commit(&mut self, period_start: i64, user_id: &str, used_tokens: u64) {
        if period_start == self.period_start {
            if let Some(u) = self.users.get_mut(user_id) {
                u.used_tokens = used_tokens;
            }
        }
    }

    /// Sums the open reservations again, for the tenant and for each overridden user.
    fn recount_reserved(&mut self) {
        self.usage.reserved_tokens = self.reservations.values().map(|held| held.demand.tokens).sum();
        self.usage.reserved_micros = self.reservations.values().map(|held| held.demand.cost_micros).sum();
        self.usage.open_reservations = self.reservations.len() as u64;
        for u in self.users.values_mut() {
            u.reserved_tokens = 0;
        }
        for held in self.reservations.values() {
            if let Some(u) = held.user.as_ref().and_then(|id| self.users.get_mut(id)) {
                u.reserved_tokens += held.demand.tokens;
            }
        }
    }

    pub fn policy(&self) -> Policy {
        self.policy
    }

    #[cfg(test)]
    fn usage(&self) -> Usage {
        self.usage
    }

    /// Used and reserved tokens at `now`: a new period starts empty, expired holds are gone.
    pub fn usage_at(&mut self, now: i64) -> Usage {
        self.roll(now);
        self.expire(now);
        self.usage
    }

    /// Moves to the period containing `now`; a new period starts with nothing used or reserved.
    fn roll(&mut self, now: i64) {
        let period = self.policy.period_at(now);
        if period.start != self.period_start {
            self.start_period(period.start, Committed::default());
        }
    }

    /// Starts a period: the tenant's counter is `committed`, every user's is zero (a load
    /// sets them with `set_overrides`), nothing is reserved.
    fn start_period(&mut self, period_start: i64, committed: Committed) {
        self.period_start = period_start;
        self.usage = Usage { used_tokens: committed.tokens, spend_micros: committed.spend_micros, ..Usage::default() };
        for u in self.users.values_mut() {
            (u.used_tokens, u.reserved_tokens) = (0, 0);
        }
        self.reservations.clear();
        self.expiries.clear();
    }

    /// Drops reservations that expired at or before `now`.
    pub fn expire(&mut self, now: i64) {
        while let Some(&(expires_at, id)) = self.expiries.first() {
            if expires_at > now {
                break;
            }
            self.release(id);
        }
    }

    /// Ends an open reservation, giving back what it held; an unknown id changes nothing.
    fn release(&mut self, id: ReservationId) {
        if let Some(held) = self.reservations.remove(&id) {
            self.expiries.remove(&(held.expires_at, id));
            self.usage.release(held.demand);
            if let Some(u) = held.user.as_ref().and_then(|id| self.users.get_mut(id)) {
                u.reserved_tokens = u.reserved_tokens.saturating_sub(held.demand.tokens);
            }
        }
    }

    /// Decides a call of `user_id` (if named) at `now` in `mode`. A call the decision reserves
    /// for holds its demand as `reservation` until it is settled or expires, against the
    /// tenant and, when the user has an override, against the user too.
    pub fn admit(
        &mut self,
        now: i64,
        mode: EnforcementMode,
        user_id: Option<&str>,
        demand: Demand,
        reservation: Reservation,
    ) -> Admission {
        self.roll(now);
        self.expire(now);
        let overridden = user_id.filter(|u| self.users.contains_key(*u));
        let user = overridden.and_then(|u| self.users.get(u).copied());
        let decision = self.policy.decide(mode, self.usage, user, demand);
        let reservation = decision.reserves.then(|| {
            // A reused id (2^-64 per call) would otherwise leave the old hold counted.
            self.release(reservation.id);
            let held = Held { demand, expires_at: reservation.expires_at, user: overridden.map(str::to_owned) };
            self.reservations.insert(reservation.id, held);
            self.expiries.insert((reservation.expires_at, reservation.id));
            self.usage.reserve(demand);
            if let Some(u) = overridden.and_then(|u| self.users.get_mut(u)) {
                u.reserved_tokens += demand.tokens;
            }
            reservation
        });
        Admission {
            decision,
            policy: self.policy,
            period: self.policy.period_at(now),
            usage: self.usage,
            user: overridden.and_then(|u| self.users.get(u).copied()),
            demand,
            reservation,
            now,
        }
    }

    /// Applies a committed counter total of `period_start`.
    pub fn apply_commit(&mut self, period_start: i64, committed: Committed) {
        if period_start == self.period_start {
            self.usage.used_tokens = committed.tokens;
            self.usage.spend_micros = committed.spend_micros;
        } else if period_start > self.period_start {
            // The writer saw the new period first: the ledger follows it.
            self.start_period(period_start, committed);
        }
    }

    /// Releases a reservation whose report has committed (its actual usage is now in
    /// `used_tokens`); an unknown or expired id changes nothing.
    pub fn settle(&mut self, id: ReservationId) {
        self.release(id);
    }

    /// A policy re-read from the database (a limit changed by another process).
    pub fn set_policy(&mut self, policy: Policy) {
        self.policy = policy;
    }

    /// A new policy with the period's committed usage (a limit changed in this process).
    /// Reservations are kept when the period is unchanged; a policy whose period moved (a
    /// period reached its reset between two loads) starts the new period afresh.
    pub fn reload(&mut self, policy: Policy, period_start: i64, committed: Committed) {
        self.policy = policy;
        if period_start == self.period_start {
            self.apply_commit(period_start, committed);
        } else {
            self.start_period(period_start, committed);
        }
    }
}

/// What the database holds for a period: recorded tokens and spend.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Committed {
    pub tokens: u64,
    pub spend_micros: u64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::limits::period::DAY_MS;
    use crate::limits::TokenLimit;
    use proptest::prelude::*;

    fn ledger(limit: u64) -> TenantLedger {
        let policy = Policy {
            token_limit: TokenLimit::new(limit).ok(),
            budget: None,
            period: crate::limits::period::Schedule::every(0, 30),
            mode: None,
        };
        TenantLedger::new(policy, 0, Committed::default())
    }

    /// Admits `tokens` for `user` under reservation number `id`.
    fn admit_for(l: &mut TenantLedger, user: &str, tokens: u64, id: u64) -> Admission {
        let reservation = Reservation { id: rid(id), expires_at: 1_000 };
        l.admit(0, EnforcementMode::Enforce, Some(user), Demand { tokens, cost_micros: 0 }, reservation)
    }

    fn overrides(users: &[(&str, u64, u64)]) -> HashMap<String, UserUsage> {
        users
            .iter()
            .map(|&(u, limit, used)| {
                let limit = TokenLimit::new(limit).expect("valid");
                (u.to_owned(), UserUsage { limit, used_tokens: used, reserved_tokens: 0 })
            })
            .collect()
    }

    fn committed(tokens: u64) -> Committed {
        Committed { tokens, spend_micros: 0 }
    }

    /// Admits `tokens` under reservation number `id`, expiring at `expires_at`.
    fn admit(l: &mut TenantLedger, now: i64, tokens: u64, id: u64, expires_at: i64) -> Admission {
        let reservation = Reservation { id: rid(id), expires_at };
        l.admit(now, EnforcementMode::Enforce, None, Demand { tokens, cost_micros: 0 }, reservation)
    }

    fn rid(n: u64) -> ReservationId {
        ReservationId::parse(&format!("rsv_{n:016x}")).expect("valid id")
    }

    fn used_reserved(l: &TenantLedger) -> (u64, u64) {
        (l.usage().used_tokens, l.usage().reserved_tokens)
    }

    #[test]
    fn reserves_until_settled_or_expired() {
        let mut l = ledger(100);
        assert!(admit(&mut l, 0, 60, 1, 1_000).decision.allowed);
        assert!(!admit(&mut l, 0, 60, 2, 1_000).decision.allowed, "60 + 60 reserved > 100");
        assert!(admit(&mut l, 0, 40, 3, 1_000).decision.allowed);
        // Report of id 1 commits with actual usage 50 (less than its estimate of 60).
        l.apply_commit(0, committed(50));
        l.settle(rid(1));
        assert_eq!(used_reserved(&l), (50, 40));
        assert!(admit(&mut l, 0, 10, 4, 1_000).decision.allowed);
        assert!(!admit(&mut l, 0, 1, 5, 1_000).decision.allowed);
        l.expire(1_000);
        assert_eq!(l.usage().reserved_tokens, 0);
        assert!(admit(&mut l, 1_000, 50, 6, 2_000).decision.allowed);
    }

    #[test]
    fn a_new_period_starts_empty() {
        let mut l = ledger(100);
        l.apply_commit(0, committed(100));
        assert!(!admit(&mut l, DAY_MS, 0, 1, 0).decision.allowed);
        let a = admit(&mut l, 30 * DAY_MS, 0, 1, 0);
        assert!(a.decision.allowed);
        assert_eq!((a.usage.used_tokens, a.period.start), (0, 30 * DAY_MS));
        // A late commit of the old period does not touch the new one.
        l.apply_commit(0, committed(120));
        assert_eq!(l.usage().used_tokens, 0);
    }

    #[test]
    fn nothing_is_held_without_a_limit_or_a_demand() {
        let policy = Policy {
            token_limit: None,
            budget: None,
            period: crate::limits::period::Schedule::every(0, 30),
            mode: None,
        };
        let mut open = TenantLedger::new(policy, 0, Committed::default());
        let a = admit(&mut open, 0, 500, 1, 1_000);
        assert!(a.decision.allowed && a.reservation.is_none());
        let mut capped = ledger(100);
        assert_eq!(admit(&mut capped, 0, 0, 2, 1_000).reservation, None, "a plain check holds nothing");
        assert_eq!(used_reserved(&capped), (0, 0));
    }

    #[test]
    fn an_override_holds_its_user_and_the_tenant_holds_everyone() {
        let mut l = ledger(1_000);
        l.set_overrides(overrides(&[("ann", 100, 30)]));
        assert!(admit_for(&mut l, "ann", 70, 1).decision.allowed, "30 used + 70 fits ann's 100");
        let refused = admit_for(&mut l, "ann", 1, 2);
        assert_eq!(refused.decision.refused_by, Some(crate::limits::LimitKind::UserTokenLimit));
        assert_eq!(refused.user.map(|u| (u.used_tokens, u.reserved_tokens)), Some((30, 70)));
        // Bob has no override: he shares the tenant's 1,000, of which 70 are reserved (for ann).
        assert!(admit_for(&mut l, "bob", 930, 3).decision.allowed);
        assert!(!admit_for(&mut l, "bob", 1, 4).decision.allowed);
        assert_eq!(admit_for(&mut l, "bob", 1, 4).decision.refused_by, Some(crate::limits::LimitKind::TokenLimit));
        // Ann's report commits 50 (her counter 80) and settles her reservation.
        l.apply_commit(0, committed(80));
        l.apply_user_commit(0, "ann", 80);
        l.settle(rid(1));
        assert!(!admit_for(&mut l, "ann", 20, 5).decision.allowed, "bob's 930 leave the tenant 1,000 - 80 - 930 < 20");
        l.settle(rid(3));
        assert!(admit_for(&mut l, "ann", 20, 6).decision.allowed, "80 + 20 fits ann's 100 exactly");
        assert!(!admit_for(&mut l, "ann", 1, 7).decision.allowed);
        // Expiry gives ann's hold back; removing her override makes her share the tenant total.
        l.expire(1_000);
        assert_eq!(l.overridden_users().map(|(_, u)| u.reserved_tokens).sum::<u64>(), 0);
        l.set_overrides(HashMap::new());
        assert!(admit_for(&mut l, "ann", 900, 8).decision.allowed);
    }

    proptest! {
        /// 64 checks of users with and without overrides, in any order: each overridden user is
        /// admitted exactly as many estimates as fit their limit (and the tenant's), and the
        /// tenant never holds more than its limit.
        #[test]
        fn overridden_users_get_exactly_what_fits(order in prop::collection::vec(0usize..3, 64), e in 1u64..500, k in 1u64..10) {
            let mut l = ledger(1 << 40);
            l.set_overrides(overrides(&[("u0", k * e, 0), ("u1", 2 * k * e, 0)]));
            let mut admitted = [0u64; 3];
            for (i, who) in order.iter().enumerate() {
                if admit_for(&mut l, &format!("u{who}"), e, i as u64).decision.allowed {
                    admitted[*who] += 1;
                }
            }
            let asked = |w: usize| order.iter().filter(|&&x| x == w).count() as u64;
            prop_assert_eq!(admitted[0], asked(0).min(k));
            prop_assert_eq!(admitted[1], asked(1).min(2 * k));
            prop_assert_eq!(admitted[2], asked(2), "u2 has no override and the tenant has room");
        }

        /// Whatever the order of checks, admitted estimates never exceed the limit while
        /// nothing is settled: exactly floor(limit / e) of any number of checks of e fit.
        #[test]
        fn admitted_estimates_never_exceed_the_limit(k in 1u64..50, e in 1u64..10_000, extra in 0u64..50) {
            let mut l = ledger(k * e);
            let admitted = (0..k + extra).filter(|i| admit(&mut l, 0, e, *i, 1_000).decision.allowed).count() as u64;
            prop_assert_eq!(admitted, k);
            prop_assert_eq!(l.usage().reserved_tokens, k * e);
        }

        #[test]
        fn reserved_is_the_sum_of_open_reservations(ops in prop::collection::vec((0u8..3, 1u64..100, 0i64..100), 0..200)) {
            let mut l = ledger(5_000);
            let mut open: HashMap<u64, (u64, i64)> = HashMap::new();
            let mut now = 0;
            for (i, (op, tokens, dt)) in ops.into_iter().enumerate() {
                let id = i as u64;
                match op {
                    0 => if admit(&mut l, now, tokens, id, now + 50).decision.allowed { open.insert(id, (tokens, now + 50)); },
                    1 => if let Some(&victim) = open.keys().next() { open.remove(&victim); l.settle(rid(victim)); },
                    _ => { now += dt; open.retain(|_, (_, exp)| *exp > now); l.expire(now); },
                }
                prop_assert_eq!(l.usage().reserved_tokens, open.values().map(|(t, _)| t).sum::<u64>());
            }
        }
    }
}
