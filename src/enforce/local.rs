//! Single-instance (SQLite) admission: every loaded tenant's ledger in memory, each behind its
//! own short `std::sync::Mutex` (held for a few field updates, never across an await). Only
//! the writer brings database state into the ledgers — after each commit, and when it loads a
//! tenant between batches — so a ledger never misses or runs ahead of what is durable.

use super::admission::Settling;
use super::ledger::{Committed, TenantLedger};
use crate::error::AppError;
use crate::overrides::store as overrides;
use crate::tenants::store as tenants;
use crate::tenants::TenantId;
use crate::usage::batch::Committed as CommittedBatch;
use sqlx::AnyConnection;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};

type SharedLedger = Arc<Mutex<TenantLedger>>;

/// Every loaded tenant's ledger.
#[derive(Default)]
pub struct Ledgers {
    map: RwLock<HashMap<TenantId, SharedLedger>>,
}

impl Ledgers {
    fn get(&self, tenant_id: &TenantId) -> Option<SharedLedger> {
        self.map.read().ok()?.get(tenant_id).cloned()
    }

    pub fn is_loaded(&self, tenant_id: &TenantId) -> bool {
        self.get(tenant_id).is_some()
    }

    /// Runs `f` on the tenant's ledger under its lock; `None` when the tenant is not loaded.
    pub fn with<T>(&self, tenant_id: &TenantId, f: impl FnOnce(&mut TenantLedger) -> T) -> Result<Option<T>, AppError> {
        let Some(ledger) = self.get(tenant_id) else { return Ok(None) };
        let mut ledger = ledger.lock().map_err(|_| poisoned())?;
        Ok(Some(f(&mut ledger)))
    }

    /// Applies a committed batch: new counter totals (the tenants' and the users'), and the
    /// reservations its reports settled.
    pub fn apply(&self, committed: &CommittedBatch, settled: &[Settling]) {
        let Ok(map) = self.map.read() else { return };
        for (tenant_id, total) in &committed.tenants {
            if let Some(mut ledger) = map.get(tenant_id).and_then(|l| l.lock().ok()) {
                let committed = Committed { tokens: total.used_tokens, spend_micros: total.spend_micros };
                ledger.apply_commit(total.period_start, committed);
            }
        }
        for user in &committed.users {
            if let Some(mut ledger) = map.get(&user.tenant_id).and_then(|l| l.lock().ok()) {
                ledger.apply_user_commit(user.period_start, &user.user_id, user.used_tokens);
            }
        }
        for s in settled {
            if let Some(mut ledger) = map.get(&s.tenant_id).and_then(|l| l.lock().ok()) {
                ledger.settle(s.reservation);
            }
        }
    }

    /// Reads a tenant's policy and current counter and installs (or reloads) its ledger;
    /// `false` when there is no such tenant. Called only by the writer task, between batches,
    /// so nothing committed is missed.
    pub async fn load(&self, conn: &mut AnyConnection, tenant_id: &TenantId, now: i64) -> Result<bool, AppError> {
        let Some(tenant) = tenants::get(&mut *conn, tenant_id).await? else { return Ok(false) };
        let policy = tenant.policy();
        let period = policy.period_at(now);
        let counters = crate::usage::store::period_counters(&mut *conn, tenant_id, period.start).await?;
        let committed = Committed { tokens: counters.total_tokens(), spend_micros: counters.cost_micros.max(0) as u64 };
        let users = overrides::meters(&mut *conn, tenant_id, period.start).await?;
        let mut map = self.map.write().map_err(|_| poisoned())?;
        let ledger = map
            .entry(tenant_id.clone())
            .or_insert_with(|| Arc::new(Mutex::new(TenantLedger::new(policy, period.start, committed))))
            .clone();
        let mut ledger = ledger.lock().map_err(|_| poisoned())?;
        ledger.reload(policy, period.start, committed);
        ledger.set_overrides(users);
        Ok(true)
    }

    /// Re-reads every tenant's policy and every override's limit (two queries) and applies
    /// them to the loaded ledgers, so a limit changed by another process (the CLI) applies
    /// within seconds. Policies and limits need no ordering with commits, so this does not go
    /// through the writer; a tenant whose set of overridden users changed needs their counters,
    /// so it is returned for the caller to reload through the writer.
    pub async fn refresh_policies(&self, pool: &sqlx::AnyPool) -> Result<Vec<TenantId>, AppError> {
        let all = tenants::list(pool).await?;
        let limits = overrides::all_limits(pool).await?;
        let Ok(map) = self.map.read() else { return Ok(Vec::new()) };
        let mut reload = Vec::new();
        let none = HashMap::new();
        for tenant in &all {
            let Ok(id) = TenantId::parse(&tenant.id) else { continue };
            if let Some(mut ledger) = map.get(&id).and_then(|l| l.lock().ok()) {
                ledger.set_policy(tenant.policy());
                let wanted = limits.get(&tenant.id).unwrap_or(&none);
                let held: HashMap<&str, _> = ledger.overridden_users().map(|(u, m)| (u, m.limit)).collect();
                let same_users = held.len() == wanted.len() && wanted.keys().all(|u| held.contains_key(u.as_str()));
                if !same_users {
                    reload.push(id);
                } else if wanted.iter().any(|(u, l)| held.get(u.as_str()) != Some(l)) {
                    ledger.set_override_limits(wanted);
                }
            }
        }
        Ok(reload)
    }

    /// Releases expired reservations everywhere; returns how many stay open.
    pub fn sweep(&self, now: i64) -> u64 {
        let Ok(map) = self.map.read() else { return 0 };
        let mut open = 0;
        for ledger in map.values() {
            if let Ok(mut l) = ledger.lock() {
                l.expire(now);
                open += l.open_reservations() as u64;
            }
        }
        open
    }
}

fn poisoned() -> AppError {
    tracing::error!("a tenant ledger's lock is poisoned");
    AppError::internal()
}
