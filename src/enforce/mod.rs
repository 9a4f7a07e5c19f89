//! Enforcement: who an agent key belongs to, and whether a call may go ahead. Two engines
//! behind one interface, chosen by the database:
//! - **local** (SQLite, one instance): admission from in-process ledgers, no database round
//!   trip on the check path;
//! - **shared** (PostgreSQL, any number of instances): admission by atomic conditional SQL.
//!
//! Both apply the same rule (`limits::admit`) and the same reservation semantics.

pub mod ledger;
pub mod local;
pub mod shared;

use crate::error::AppError;
use crate::limits::period::{current_period, Period};
use crate::limits::TokenLimit;
use crate::server::db::{Backend, Db};
use crate::usage::writer::UsageWriter;
use ledger::TenantSettings;
use local::{Ledgers, LocalEnforcer};
use shared::SharedEnforcer;
use std::sync::Arc;

/// An authenticated agent.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Principal {
    pub agent_id: i64,
    pub tenant_id: String,
}

/// The answer to one check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckOutcome {
    pub allowed: bool,
    pub tenant_id: String,
    pub used_tokens: u64,
    pub reserved_tokens: u64,
    pub token_limit: Option<TokenLimit>,
    pub period: Period,
    /// `(reservation_id, expires_at)` when an estimate was admitted.
    pub reservation: Option<(String, i64)>,
    pub now: i64,
}

/// A tenant's limit and period at one instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TenantNow {
    pub token_limit: Option<TokenLimit>,
    pub period: Period,
}

#[derive(Clone)]
pub enum Enforcer {
    Local(Arc<LocalEnforcer>),
    Shared(Arc<SharedEnforcer>),
}

impl Enforcer {
    /// The engine for this database, and the usage writer it works with.
    pub fn start(db: &Db, reservation_ttl_ms: i64) -> (Self, UsageWriter, tokio::task::JoinHandle<()>) {
        match db.backend {
            Backend::Sqlite => {
                let ledgers = Arc::new(Ledgers::default());
                let (writer, task) = UsageWriter::spawn(db.clone(), Some(ledgers.clone()));
                let local = LocalEnforcer::new(db.clone(), ledgers, writer.clone(), reservation_ttl_ms);
                (Self::Local(Arc::new(local)), writer, task)
            }
            Backend::Postgres => {
                let (writer, task) = UsageWriter::spawn(db.clone(), None);
                (Self::Shared(Arc::new(SharedEnforcer::new(db.clone(), reservation_ttl_ms))), writer, task)
            }
        }
    }

    /// The live agent holding this key, or 401.
    pub async fn authenticate(&self, key: &str) -> Result<Principal, AppError> {
        let found = match self {
            Self::Local(l) => l.authenticate(key).await?,
            Self::Shared(s) => s.authenticate(key).await?,
        };
        found.ok_or_else(|| AppError::unauthorized("Invalid or revoked API key"))
    }

    /// Decides a check; with `estimated_tokens > 0` an admitted check reserves them.
    pub async fn check(&self, p: &Principal, estimated_tokens: u64, now: i64) -> Result<CheckOutcome, AppError> {
        match self {
            Self::Local(l) => l.check(p, estimated_tokens, now).await,
            Self::Shared(s) => s.check(p, estimated_tokens, now).await,
        }
    }

    /// The tenant's limit and current period (what a report is answered with).
    pub async fn tenant_now(&self, tenant_id: &str, now: i64) -> Result<TenantNow, AppError> {
        let s: TenantSettings = match self {
            Self::Local(l) => l.settings(tenant_id, now).await?,
            Self::Shared(s) => s.settings(tenant_id).await?,
        };
        Ok(TenantNow { token_limit: s.token_limit, period: current_period(s.period_anchor, s.period_days, now) })
    }

    /// A tenant's limit changed in this process: reload it before answering the caller.
    pub async fn tenant_changed(&self, tenant_id: &str, now: i64) -> Result<(), AppError> {
        if let Self::Local(l) = self {
            if l.ledgers.get(tenant_id).is_some() {
                l.writer.load_tenant(tenant_id, now).await?;
            }
        }
        Ok(())
    }

    /// An agent's key was revoked in this process.
    pub fn agent_revoked(&self, agent_id: i64) {
        if let Self::Local(l) = self {
            l.agent_revoked(agent_id);
        }
    }

    /// Reserved tokens held in memory (local mode); `None` when they are in the counter rows.
    pub fn reserved_in_memory(&self, tenant_id: &str) -> Option<u64> {
        match self {
            Self::Local(l) => Some(l.reserved_tokens(tenant_id)),
            Self::Shared(_) => None,
        }
    }

    /// Background upkeep, every second: release expired reservations; in local mode also, every
    /// few seconds, re-read tenant settings and forget cached keys, so that changes made by
    /// another process (the CLI) take effect.
    pub fn spawn_upkeep(&self, clock: crate::server::state::Clock) -> tokio::task::JoinHandle<()> {
        let this = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(std::time::Duration::from_secs(1));
            let mut n: u64 = 0;
            loop {
                tick.tick().await;
                n += 1;
                let now = clock.now_ms();
                match &this {
                    Self::Local(l) => {
                        l.ledgers.sweep(now);
                        if n.is_multiple_of(5) {
                            l.forget_keys();
                            if let Err(e) = l.ledgers.refresh_settings(&l.db.pool).await {
                                tracing::warn!(error = %e, "refreshing tenant settings failed");
                            }
                        }
                    }
                    Self::Shared(s) => {
                        if let Err(e) = s.sweep(now).await {
                            tracing::warn!(error = %e, "releasing expired reservations failed");
                        }
                    }
                }
            }
        })
    }
}

impl From<&crate::tenants::store::TenantRecord> for TenantSettings {
    fn from(t: &crate::tenants::store::TenantRecord) -> Self {
        TenantSettings { token_limit: t.token_limit(), period_anchor: t.period_anchor, period_days: t.period_days() }
    }
}

/// A random reservation number; unguessable enough that one tenant cannot settle another's
/// (and ids are looked up within the tenant anyway).
pub fn new_reservation_number() -> u64 {
    rand::random()
}

pub fn reservation_text(n: u64) -> String {
    format!("rsv_{n:016x}")
}

/// The number inside `rsv_<16 hex>`, if it is one.
pub fn parse_reservation(text: &str) -> Option<u64> {
    let hex = text.strip_prefix("rsv_")?;
    (hex.len() == 16).then(|| u64::from_str_radix(hex, 16).ok()).flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reservation_ids_round_trip() {
        for n in [0, 1, u64::MAX, 0xdead_beef] {
            assert_eq!(parse_reservation(&reservation_text(n)), Some(n));
        }
        assert_eq!(parse_reservation("rsv_zz"), None);
        assert_eq!(parse_reservation("abc"), None);
    }
}
