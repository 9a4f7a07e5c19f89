//! The admission rule as one pure function. A tenant's [`Policy`] (every limit it sets and the
//! period they count over), what is already counted against it ([`Usage`]) and what a call
//! asks for ([`Demand`]) give a [`Decision`]. Both engines decide with [`Policy::decide`]: the
//! local one under its ledger's lock, the shared one while it holds the counter row's lock.
//!
//! Every limit is a *meter*: a cap on one quantity per period, with what is used, what open
//! reservations hold, and what the call asks. A USD budget or a per-user override is one more
//! meter (a new `LimitKind`, a field in `Policy`, `Usage` and `Demand`), decided by the same
//! loop; a per-user override is a meter on that user's own counter ([`UserUsage`]). The
//! enforcement mode then says what a refusal does: `enforce` refuses, `monitor` lets the call
//! through and records a "would have refused", `off` decides nothing.

use super::mode::EnforcementMode;
use super::period::{Period, Schedule};
use super::rules::TokenLimit;
use crate::budgets::rules::{BudgetConfig, BudgetState};
use serde::{Deserialize, Serialize};

/// Which limit refused a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LimitKind {
    /// The tenant's tokens (input + output) per period.
    TokenLimit,
    /// The tenant's USD spend per period, refused at the block amount (max × grace %).
    Budget,
    /// One user's tokens per period, where the tenant set an override for that user.
    UserTokenLimit,
    /// The tenant's calls holding a reservation at once (`MAX_OPEN_RESERVATIONS`).
    OpenReservations,
}

/// The most reservations one tenant may hold at once: each is kept (in memory, or a row) until
/// its report or its expiry, so an agent that checks with estimates and never reports could
/// otherwise pile them up without bound for the reservation's whole TTL.
pub const MAX_OPEN_RESERVATIONS: u64 = 10_000;

impl LimitKind {
    /// The refusal's `limit` value in the API.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::TokenLimit => "token_limit",
            Self::Budget => "budget",
            Self::UserTokenLimit => "user_token_limit",
            Self::OpenReservations => "open_reservations",
        }
    }

    /// The refusal's `error` value in the API.
    pub fn error_code(self) -> &'static str {
        match self {
            Self::TokenLimit => "token_limit_exceeded",
            Self::Budget => "budget_exceeded",
            Self::UserTokenLimit => "user_token_limit_exceeded",
            Self::OpenReservations => "too_many_open_reservations",
        }
    }
}

/// How one tenant is limited: its limits and the period they count over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// `None`: No Limit.
    pub token_limit: Option<TokenLimit>,
    /// `None`: no budget.
    pub budget: Option<BudgetConfig>,
    /// The periods the limits count over.
    pub period: Schedule,
    /// The tenant's own mode; `None`: the server's default.
    pub mode: Option<EnforcementMode>,
}

/// What is counted against a policy in the current period.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    /// Tokens of recorded (committed) usage events.
    pub used_tokens: u64,
    /// Tokens held by admitted calls whose reports have not arrived yet.
    pub reserved_tokens: u64,
    /// Spend of recorded usage events, micro-USD.
    pub spend_micros: u64,
    /// Spend held by admitted calls whose reports have not arrived yet, micro-USD.
    pub reserved_micros: u64,
    /// Reservations held now (one per admitted call with a demand, until settled or expired).
    pub open_reservations: u64,
}

/// A user's override and that user's counter this period: decided beside the tenant's
/// limits, never instead of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UserUsage {
    pub limit: TokenLimit,
    pub used_tokens: u64,
    /// Tokens held by this user's admitted calls whose reports have not arrived yet.
    pub reserved_tokens: u64,
}

/// What a call asks to reserve before it runs; all zero for a plain check.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Demand {
    pub tokens: u64,
    /// The estimate's price, micro-USD (0 when the model is not named or not priced).
    pub cost_micros: u64,
}

/// The answer to "may this call go ahead?".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    pub allowed: bool,
    /// The first limit that refused; `None` when allowed.
    pub refused_by: Option<LimitKind>,
    /// In monitor mode, the limit that would have refused the call (which went ahead).
    pub would_refuse: Option<LimitKind>,
    /// Whether the call's demand is held as a reservation: only for a call that fits every
    /// limit, with a demand, under a policy that limits something and a mode that decides.
    pub reserves: bool,
    /// The mode the decision was made in.
    pub mode: EnforcementMode,
}

/// One limit against its counter.
#[derive(Debug, Clone, Copy)]
struct Meter {
    kind: LimitKind,
    limit: u64,
    used: u64,
    reserved: u64,
    demand: u64,
}

impl Meter {
    /// The rule every limit shares. Without a demand it is the hard limit: refused once
    /// `used >= limit`. With one, the call is admitted only if it fits beside what is used and
    /// reserved, `used + reserved + demand <= limit`, so concurrent calls can never be
    /// promised more than the limit between them.
    fn admits(&self) -> bool {
        if self.demand == 0 {
            self.used < self.limit
        } else {
            u128::from(self.used) + u128::from(self.reserved) + u128::from(self.demand) <= u128::from(self.limit)
        }
    }
}

impl Policy {
    /// The period containing `now`.
    pub fn period_at(&self, now: i64) -> Period {
        self.period.period_at(now)
    }

    /// Every limit this policy sets, each with its counter and the call's demand on it.
    fn meters(&self, usage: Usage, user: Option<UserUsage>, demand: Demand) -> impl Iterator<Item = Meter> {
        let tokens = self.token_limit.map(|limit| Meter {
            kind: LimitKind::TokenLimit,
            limit: limit.get(),
            used: usage.used_tokens,
            reserved: usage.reserved_tokens,
            demand: demand.tokens,
        });
        // Blocked exactly when spend reaches the block amount: the budget's hard limit.
        let budget = self.budget.map(|b| Meter {
            kind: LimitKind::Budget,
            limit: b.block_amount_micros().max(0) as u64,
            used: usage.spend_micros,
            reserved: usage.reserved_micros,
            demand: demand.cost_micros,
        });
        let user = user.map(|u| Meter {
            kind: LimitKind::UserTokenLimit,
            limit: u.limit.get(),
            used: u.used_tokens,
            reserved: u.reserved_tokens,
            demand: demand.tokens,
        });
        // A call that would reserve takes one of the tenant's open reservations.
        let held = (!demand.is_empty()).then_some(Meter {
            kind: LimitKind::OpenReservations,
            limit: MAX_OPEN_RESERVATIONS,
            used: usage.open_reservations,
            reserved: 0,
            demand: 1,
        });
        tokens.into_iter().chain(budget).chain(user).chain(held)
    }

    /// The mode decisions are made in: the tenant's own, else `default`.
    pub fn mode_or(&self, default: EnforcementMode) -> EnforcementMode {
        self.mode.unwrap_or(default)
    }

    /// The budget state of committed spend (`None` without a budget).
    pub fn budget_state(&self, usage: Usage) -> Option<BudgetState> {
        self.budget.map(|b| b.state(i64::try_from(usage.spend_micros).unwrap_or(i64::MAX)))
    }

    /// Whether any limit is set; without one every call is allowed and nothing is reserved.
    pub fn limits_anything(&self) -> bool {
        self.meters(Usage::default(), None, Demand::default()).next().is_some()
    }

    /// Tokens a call could still reserve: the limit less what is used and reserved (`None`:
    /// No Limit).
    pub fn remaining_tokens(&self, usage: Usage) -> Option<u64> {
        self.token_limit.map(|l| l.get().saturating_sub(usage.used_tokens.saturating_add(usage.reserved_tokens)))
    }

    /// Decides a call in `mode`: it fits when every limit admits it (the tenant's, and the
    /// user's override when `user` has one); otherwise the first that does not names itself.
    /// `enforce` refuses what does not fit; `monitor` lets it through and says what would have
    /// refused it; `off` decides nothing. A policy without limits allows everything.
    pub fn decide(&self, mode: EnforcementMode, usage: Usage, user: Option<UserUsage>, demand: Demand) -> Decision {
        if mode == EnforcementMode::Off {
            return Decision { allowed: true, refused_by: None, would_refuse: None, reserves: false, mode };
        }
        let over = self.meters(usage, user, demand).find(|m| !m.admits()).map(|m| m.kind);
        let limited = self.limits_anything() || user.is_some();
        let reserves = over.is_none() && !demand.is_empty() && limited;
        match mode {
            EnforcementMode::Monitor => {
                Decision { allowed: true, refused_by: None, would_refuse: over, reserves, mode }
            }
            _ => Decision { allowed: over.is_none(), refused_by: over, would_refuse: None, reserves, mode },
        }
    }
}

impl Usage {
    /// Holds an admitted demand until its report (or its expiry) releases it.
    pub fn reserve(&mut self, demand: Demand) {
        self.reserved_tokens += demand.tokens;
        self.reserved_micros += demand.cost_micros;
        self.open_reservations += 1;
    }

    /// Gives a reservation's demand back.
    pub fn release(&mut self, demand: Demand) {
        self.reserved_tokens = self.reserved_tokens.saturating_sub(demand.tokens);
        self.reserved_micros = self.reserved_micros.saturating_sub(demand.cost_micros);
        self.open_reservations = self.open_reservations.saturating_sub(1);
    }
}

impl Demand {
    /// A plain check: nothing to reserve.
    pub fn is_empty(&self) -> bool {
        self.tokens == 0 && self.cost_micros == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::limits::rules::{UsageBand, MAX_TOKEN_LIMIT};
    use proptest::prelude::*;

    /// Decisions of the enforce mode for a tenant-wide call (no user override).
    trait Enforced {
        fn enforce(&self, usage: Usage, demand: Demand) -> Decision;
    }

    impl Enforced for Policy {
        fn enforce(&self, usage: Usage, demand: Demand) -> Decision {
            self.decide(EnforcementMode::Enforce, usage, None, demand)
        }
    }

    fn policy(limit: Option<u64>) -> Policy {
        Policy {
            token_limit: limit.map(|l| TokenLimit::new(l).expect("valid limit in test")),
            budget: None,
            period: crate::limits::period::Schedule::every(0, 30),
            mode: None,
        }
    }

    /// A policy with a budget whose block amount is `block` micro-USD (max $1 × grace %).
    fn budgeted(limit: Option<u64>, max_micros: i64, grace: u32) -> Policy {
        let budget = BudgetConfig {
            max_budget_micros: max_micros,
            alert_threshold_pct: 80,
            grace_threshold_pct: grace,
            budget_duration: crate::budgets::rules::BudgetDuration::Days30,
        };
        Policy { budget: Some(budget), ..policy(limit) }
    }

    fn usage(used_tokens: u64, reserved_tokens: u64) -> Usage {
        Usage { used_tokens, reserved_tokens, ..Usage::default() }
    }

    fn spend(spend_micros: u64, reserved_micros: u64) -> Usage {
        Usage { spend_micros, reserved_micros, ..Usage::default() }
    }

    fn tokens(n: u64) -> Demand {
        Demand { tokens: n, cost_micros: 0 }
    }

    fn cost(n: u64) -> Demand {
        Demand { tokens: 1, cost_micros: n }
    }

    #[test]
    fn refusals_name_the_limit() {
        let p = policy(Some(100));
        let fine = p.enforce(usage(99, 0), Demand::default());
        assert_eq!((fine.allowed, fine.refused_by, fine.reserves), (true, None, false));
        let refused = p.enforce(usage(100, 0), Demand::default());
        assert_eq!((refused.allowed, refused.refused_by), (false, Some(LimitKind::TokenLimit)));
        assert_eq!(LimitKind::TokenLimit.as_str(), "token_limit");
        assert_eq!(LimitKind::TokenLimit.error_code(), "token_limit_exceeded");
        assert!(p.enforce(usage(50, 40), tokens(10)).allowed, "50 + 40 + 10 fits 100 exactly");
        assert!(!p.enforce(usage(50, 40), tokens(11)).allowed);

        // $500 at 110 %: blocked from $550 of spend; a $10 estimate needs $10 of room.
        let b = budgeted(Some(100), 500_000_000, 110);
        assert!(b.enforce(spend(549_999_999, 0), Demand::default()).allowed);
        let blocked = b.enforce(spend(550_000_000, 0), Demand::default());
        assert_eq!(blocked.refused_by, Some(LimitKind::Budget));
        assert!(b.enforce(spend(530_000_000, 10_000_000), cost(10_000_000)).allowed);
        assert!(!b.enforce(spend(530_000_000, 10_000_001), cost(10_000_000)).allowed);
        // Both limits refusing: the token limit is named first.
        let both =
            b.enforce(Usage { used_tokens: 100, spend_micros: 600_000_000, ..Usage::default() }, Demand::default());
        assert_eq!(both.refused_by, Some(LimitKind::TokenLimit));
        assert_eq!(LimitKind::Budget.error_code(), "budget_exceeded");
    }

    /// The model every property below compares against: a limit is a row of `limit` slots;
    /// used and reserved tokens occupy slots, and a call's demand must find that many free
    /// slots (a plain check needs one unused slot). Counted with checked subtraction, not the
    /// inequality `Meter::admits` uses.
    fn free_slots(limit: u64, taken: u128) -> u128 {
        u128::from(limit).saturating_sub(taken)
    }

    proptest! {
        #[test]
        fn decision_equals_used_at_least_limit(used in any::<u64>(), l in 1..=MAX_TOKEN_LIMIT) {
            let d = policy(Some(l)).enforce(usage(used, 0), Demand::default());
            prop_assert_eq!(!d.allowed, used >= l);
            prop_assert_eq!(d.refused_by.is_some(), !d.allowed);
            if d.allowed {
                prop_assert_eq!(policy(Some(l)).remaining_tokens(usage(used, 0)), Some(l - used));
            }
        }

        #[test]
        fn admission_is_exactly_the_fit_rule(used in any::<u64>(), reserved in any::<u64>(), e in 1u64.., l in 1..=MAX_TOKEN_LIMIT) {
            let fits = free_slots(l, u128::from(used) + u128::from(reserved)) >= u128::from(e);
            prop_assert_eq!(policy(Some(l)).enforce(usage(used, reserved), tokens(e)).allowed, fits);
            prop_assert!(policy(None).enforce(usage(used, reserved), tokens(e)).allowed);
        }

        #[test]
        fn admission_without_estimate_is_the_token_rule(used in any::<u64>(), reserved in any::<u64>(), l in 1..=MAX_TOKEN_LIMIT) {
            // Reservations do not refuse a plain check: only used tokens do.
            let plain = policy(Some(l)).enforce(usage(used, reserved), Demand::default());
            prop_assert_eq!(plain.allowed, free_slots(l, u128::from(used)) >= 1);
        }

        #[test]
        fn no_limit_always_allows(used in any::<u64>(), reserved in any::<u64>(), e in any::<u64>()) {
            let d = policy(None).enforce(usage(used, reserved), tokens(e));
            prop_assert_eq!((d.allowed, d.refused_by, d.reserves), (true, None, false));
        }

        /// More usage never turns a refusal into an admission, and a smaller demand that is
        /// still a demand is admitted whenever a larger one is.
        #[test]
        fn decisions_are_monotone(used in 0u64..1 << 40, more in 0u64..1 << 40, reserved in 0u64..1 << 40,
                                  e in 1u64..1 << 40, smaller in 1u64..1 << 40, l in 1u64..1 << 41) {
            let p = policy(Some(l));
            if !p.enforce(usage(used, reserved), tokens(e)).allowed {
                prop_assert!(!p.enforce(usage(used + more, reserved), tokens(e)).allowed);
                prop_assert!(!p.enforce(usage(used, reserved + more), tokens(e)).allowed);
            }
            if p.enforce(usage(used, reserved), tokens(e)).allowed {
                prop_assert!(p.enforce(usage(used, reserved), tokens(smaller.min(e))).allowed);
            }
        }

        /// Admitting and reserving calls one after another never promises more than the
        /// limit: the admitted demands fit in the free slots, and each refused one did not.
        #[test]
        fn reserved_demands_never_exceed_the_limit(l in 1u64..100_000, used in 0u64..100_000, demands in prop::collection::vec(1u64..5_000, 0..60)) {
            let p = policy(Some(l));
            let mut u = usage(used, 0);
            for e in demands {
                let free = free_slots(l, u128::from(u.used_tokens) + u128::from(u.reserved_tokens));
                let d = p.enforce(u, tokens(e));
                prop_assert_eq!(d.allowed, free >= u128::from(e));
                if d.allowed { u.reserve(tokens(e)); }
                prop_assert!(u.reserved_tokens == 0 || u.used_tokens + u.reserved_tokens <= l);
            }
        }

        /// The danger colour is exactly the refusal of a plain check.
        #[test]
        fn danger_band_is_exactly_a_refused_check(used in 0u64..1u64 << 40, l in 1u64..1u64 << 40) {
            let limit = TokenLimit::new(l).expect("valid");
            let refused = !policy(Some(l)).enforce(usage(used, 0), Demand::default()).allowed;
            prop_assert_eq!(UsageBand::for_usage(used, limit) == UsageBand::Danger, refused);
        }

        #[test]
        fn release_undoes_reserve(r in 0u64..1 << 50, e in 0u64..1 << 50, c in 0u64..1 << 50) {
            let mut u = Usage { reserved_micros: r / 3, ..usage(7, r) };
            let d = Demand { tokens: e, cost_micros: c };
            u.reserve(d);
            u.release(d);
            prop_assert_eq!(u, Usage { reserved_micros: r / 3, ..usage(7, r) });
        }

        /// A reserving call is refused once the tenant holds `MAX_OPEN_RESERVATIONS`, whatever
        /// else fits; a plain check (which reserves nothing) never is.
        #[test]
        fn open_reservations_are_capped_for_reserving_calls(open in 0u64..=MAX_OPEN_RESERVATIONS + 5, e in 0u64..10) {
            let p = policy(Some(MAX_TOKEN_LIMIT));
            let u = Usage { open_reservations: open, ..Usage::default() };
            let d = p.enforce(u, Demand { tokens: e, cost_micros: 0 });
            let capped = e > 0 && open >= MAX_OPEN_RESERVATIONS;
            prop_assert_eq!(d.refused_by == Some(LimitKind::OpenReservations), capped);
            prop_assert_eq!(d.allowed, !capped);
            prop_assert_eq!(d.reserves, e > 0 && !capped);
        }

        /// With a token limit and a budget, a call is refused exactly when either limit on its
        /// own would refuse it (the composition is an "and" of independent limits), and the
        /// token limit is named first.
        #[test]
        fn limits_compose(used in 0u64..2_000, reserved in 0u64..2_000, l in 1u64..2_000,
                          spent in 0u64..2_000_000, held in 0u64..2_000_000, max_cents in 1i64..1_000,
                          grace in 100u32..=150, e in 0u64..500, c in 0u64..500_000) {
            let u = Usage { used_tokens: used, reserved_tokens: reserved, spend_micros: spent, reserved_micros: held, open_reservations: 0 };
            let d = Demand { tokens: e, cost_micros: c };
            let both = budgeted(Some(l), max_cents * 10_000, grace);
            let tokens_only = policy(Some(l));
            let budget_only = budgeted(None, max_cents * 10_000, grace);
            let t = tokens_only.enforce(u, d).allowed;
            let b = budget_only.enforce(u, d).allowed;
            let decision = both.enforce(u, d);
            prop_assert_eq!(decision.allowed, t && b);
            let expected = if !t { Some(LimitKind::TokenLimit) } else if !b { Some(LimitKind::Budget) } else { None };
            prop_assert_eq!(decision.refused_by, expected);
        }

        /// A user with an override is decided by the tenant's limits and by the override, each
        /// on its own counter: refused exactly when the tenant alone would refuse the call or
        /// when the user's counter, seen as a tenant of its own under the override, would. The
        /// tenant's limits are named first; a user without an override is the tenant alone.
        #[test]
        fn a_user_override_composes_with_the_tenant(used in 0u64..3_000, reserved in 0u64..3_000, l in 1u64..3_000,
                                                   u_used in 0u64..3_000, u_reserved in 0u64..3_000, u_limit in 1u64..3_000,
                                                   e in 0u64..500) {
            let tenant = policy(Some(l));
            let u = usage(used, reserved);
            let user = UserUsage { limit: TokenLimit::new(u_limit).expect("valid"), used_tokens: u_used, reserved_tokens: u_reserved };
            let d = tokens(e);
            let alone = tenant.enforce(u, d);
            let as_tenant = policy(Some(u_limit)).enforce(usage(u_used, u_reserved), d);
            let both = tenant.decide(EnforcementMode::Enforce, u, Some(user), d);
            prop_assert_eq!(both.allowed, alone.allowed && as_tenant.allowed);
            let expected = if !alone.allowed { Some(LimitKind::TokenLimit) } else if !as_tenant.allowed { Some(LimitKind::UserTokenLimit) } else { None };
            prop_assert_eq!(both.refused_by, expected);
            prop_assert_eq!(both.reserves, both.allowed && e > 0);
            // Without a tenant limit, the override still holds.
            let open = policy(None).decide(EnforcementMode::Enforce, u, Some(user), d);
            prop_assert_eq!(open.allowed, as_tenant.allowed);
        }

        /// Monitor lets every call through and names exactly what enforce would have refused,
        /// holding a reservation only where enforce would; off decides and holds nothing.
        #[test]
        fn monitor_and_off_never_refuse(used in 0u64..2_000, reserved in 0u64..2_000, l in 1u64..2_000,
                                        e in 0u64..500, with_user in any::<bool>(), u_limit in 1u64..2_000) {
            let p = policy(Some(l));
            let user = with_user.then(|| UserUsage { limit: TokenLimit::new(u_limit).expect("valid"), used_tokens: used / 2, reserved_tokens: 0 });
            let (u, d) = (usage(used, reserved), tokens(e));
            let enforced = p.decide(EnforcementMode::Enforce, u, user, d);
            let monitored = p.decide(EnforcementMode::Monitor, u, user, d);
            prop_assert!(monitored.allowed && monitored.refused_by.is_none());
            prop_assert_eq!(monitored.would_refuse, enforced.refused_by);
            prop_assert_eq!(monitored.reserves, enforced.reserves);
            let off = p.decide(EnforcementMode::Off, u, user, d);
            prop_assert_eq!((off.allowed, off.refused_by, off.would_refuse, off.reserves), (true, None, None, false));
            prop_assert_eq!(p.mode_or(EnforcementMode::Monitor), EnforcementMode::Monitor);
            prop_assert_eq!(Policy { mode: Some(EnforcementMode::Off), ..p }.mode_or(EnforcementMode::Enforce), EnforcementMode::Off);
        }

        /// A plain check is refused by the budget exactly in the blocked state.
        #[test]
        fn budget_refuses_exactly_when_blocked(spent in 0u64..2_000_000_000, max_cents in 1i64..100_000, grace in 100u32..=150) {
            let p = budgeted(None, max_cents * 10_000, grace);
            let refused = !p.enforce(spend(spent, 0), Demand::default()).allowed;
            prop_assert_eq!(refused, p.budget_state(spend(spent, 0)) == Some(BudgetState::Blocked));
        }
    }
}
