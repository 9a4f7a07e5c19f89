//! The gate's vocabulary, shared by both engines and the writer: what a call asks, what it is
//! answered, and the reservation an admitted call holds. Pure data, no I/O.

use crate::limits::period::Period;
use crate::limits::{Decision, Demand, Policy, Usage, UserUsage};
use crate::tenants::TenantId;
use crate::usage::pricing::PriceBook;
use std::fmt;

/// What an agent says about the call it is about to make.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Call {
    /// Tokens (input + output) the call is expected to use; 0 for a plain check. Admitted only
    /// if they fit, then reserved until the report settles them.
    pub estimated_tokens: u64,
    /// The model it will use, so the estimate can be priced against the budget.
    pub model: Option<String>,
    /// The end user the call is made for: their override, if any, is decided too.
    pub user_id: Option<String>,
    /// Who will serve it (the proxy's upstream), when known: it narrows the price search.
    pub provider: Option<String>,
}

impl Call {
    /// What the call asks each limit to hold for it: its tokens, and their price when the
    /// model is named (at its dearest price, so the estimate errs towards refusing).
    pub fn demand(&self, prices: &impl PriceBook, at_ms: i64) -> Demand {
        let cost_micros = match &self.model {
            Some(model) => prices.estimate_micros(model, self.provider.as_deref(), self.estimated_tokens, at_ms),
            None => 0,
        };
        Demand { tokens: self.estimated_tokens, cost_micros }
    }
}

/// The answer to one call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Admission {
    pub decision: Decision,
    pub policy: Policy,
    pub period: Period,
    /// Used and reserved in this period after the decision (an admitted call's own
    /// reservation included).
    pub usage: Usage,
    /// The user's override and counter after the decision, when the call named a user who has one.
    pub user: Option<UserUsage>,
    pub demand: Demand,
    /// Held for an admitted call with a demand, under a policy that limits something.
    pub reservation: Option<Reservation>,
    /// The instant the decision was made (Unix ms).
    pub now: i64,
}

impl Admission {
    /// Seconds until a refusal by `kind` may pass (`Retry-After`): the period's reset for the
    /// limits that count a period; a second for the open reservations, which free as calls report.
    pub fn retry_after_secs(&self, kind: crate::limits::LimitKind) -> u64 {
        match kind {
            crate::limits::LimitKind::OpenReservations => 1,
            _ => crate::limits::period::seconds_until(self.now, self.period.resets_at),
        }
    }
}

/// An admitted call's hold on its demand, released by its report or at `expires_at`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reservation {
    pub id: ReservationId,
    pub expires_at: i64,
}

/// A reservation's id, `rsv_` and 16 hex digits: random, so one tenant cannot guess
/// another's (and ids are looked up within the tenant anyway).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ReservationId(u64);

impl ReservationId {
    pub fn random() -> Self {
        Self(rand::random())
    }

    /// The id inside `rsv_<16 hex>`, if the text is one.
    pub fn parse(text: &str) -> Option<Self> {
        let hex = text.strip_prefix("rsv_")?;
        let lower_hex = |b: u8| b.is_ascii_digit() || (b'a'..=b'f').contains(&b);
        if hex.len() != 16 || !hex.bytes().all(lower_hex) {
            return None;
        }
        u64::from_str_radix(hex, 16).ok().map(Self)
    }
}

impl fmt::Display for ReservationId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "rsv_{:016x}", self.0)
    }
}

/// A report that settles the reservation its check made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settling {
    pub tenant_id: TenantId,
    pub reservation: ReservationId,
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn malformed_ids_are_not_reservations() {
        for text in [
            "rsv_zz",
            "abc",
            "rsv_",
            "rsv_0123456789abcdef0",
            "RSV_0123456789abcdef",
            "rsv_+123456789abcdef",
            "rsv_0123456789ABCDEF",
        ] {
            assert_eq!(ReservationId::parse(text), None, "{text}");
        }
    }

    proptest! {
        #[test]
        fn reservation_ids_round_trip(n in any::<u64>()) {
            let id = ReservationId(n);
            let text = id.to_string();
            prop_assert_eq!(text.len(), 20);
            prop_assert_eq!(ReservationId::parse(&text), Some(id));
        }
    }
}
