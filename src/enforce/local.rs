//! Single-instance (SQLite) enforcement: admission from in-process ledgers, one per tenant,
//! each behind its own short `std::sync::Mutex` (held for a few field updates, never across
//! an await). The usage writer is the only one that brings database state into the ledgers —
//! after each commit, and when a tenant is first loaded — so the ledgers never run ahead of
//! what is durable. API keys are cached; revocations in this process evict them at once.

use super::ledger::{Admission, TenantLedger, TenantSettings};
use super::{CheckOutcome, Principal};
use crate::agents::keys;
use crate::error::AppError;
use crate::limits::period::current_period;
use crate::server::db::Db;
use crate::tenants::store as tenants;
use crate::tenants::TenantId;
use crate::usage::store::CommittedTotal;
use crate::usage::writer::UsageWriter;
use sqlx::AnyConnection;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};

pub type SharedLedger = Arc<Mutex<TenantLedger>>;

/// Every loaded tenant's ledger.
#[derive(Default)]
pub struct Ledgers {
    map: RwLock<HashMap<String, SharedLedger>>,
}

impl Ledgers {
    pub fn get(&self, tenant_id: &str) -> Option<SharedLedger> {
        self.map.read().ok()?.get(tenant_id).cloned()
    }

    /// Applies a committed batch: new counter totals, and the reservations its reports settled.
    pub fn apply(&self, committed: &HashMap<String, CommittedTotal>, settled: &[(String, u64)]) {
        let Ok(map) = self.map.read() else { return };
        for (tenant_id, total) in committed {
            if let Some(mut ledger) = map.get(tenant_id).and_then(|l| l.lock().ok()) {
                ledger.apply_commit(total.period_start, total.used_tokens);
            }
        }
        for (tenant_id, reservation) in settled {
            if let Some(mut ledger) = map.get(tenant_id).and_then(|l| l.lock().ok()) {
                ledger.settle(*reservation);
            }
        }
    }

    /// Reads a tenant's settings and current counter and installs (or refreshes) its ledger.
    /// Called only by the writer task, between batches, so nothing committed is missed.
    pub async fn load(
        &self,
        conn: &mut AnyConnection,
        tenant_id: &str,
        now: i64,
    ) -> Result<Option<SharedLedger>, sqlx::Error> {
        let Ok(id) = TenantId::parse(tenant_id) else { return Ok(None) };
        let Some(tenant) = tenants::get(&mut *conn, &id).await? else { return Ok(None) };
        let settings = TenantSettings::from(&tenant);
        let period = current_period(settings.period_anchor, settings.period_days, now);
        let used = crate::usage::store::period_counters(&mut *conn, tenant_id, period.start).await?.total_tokens();
        let mut map = self.map.write().map_err(|_| sqlx::Error::Protocol("ledger lock poisoned".into()))?;
        let ledger = map
            .entry(tenant_id.to_owned())
            .or_insert_with(|| Arc::new(Mutex::new(TenantLedger::new(settings, period.start, used))))
            .clone();
        if let Ok(mut l) = ledger.lock() {
            l.update_settings(settings, period.start, used);
        }
        Ok(Some(ledger))
    }

    /// Re-reads every tenant's settings in one query and applies them to the loaded ledgers,
    /// so a limit changed by another process (the CLI) applies within seconds. Settings need no
    /// ordering with commits, so this does not go through the writer.
    pub async fn refresh_settings(&self, pool: &sqlx::AnyPool) -> Result<(), sqlx::Error> {
        let all = tenants::list(pool).await?;
        let Ok(map) = self.map.read() else { return Ok(()) };
        for tenant in &all {
            if let Some(mut ledger) = map.get(&tenant.id).and_then(|l| l.lock().ok()) {
                ledger.set_settings(TenantSettings::from(tenant));
            }
        }
        Ok(())
    }

    /// Releases expired reservations everywhere.
    pub fn sweep(&self, now: i64) {
        let Ok(map) = self.map.read() else { return };
        for ledger in map.values() {
            if let Ok(mut l) = ledger.lock() {
                l.expire(now);
            }
        }
    }
}

pub struct LocalEnforcer {
    pub db: Db,
    pub ledgers: Arc<Ledgers>,
    pub writer: UsageWriter,
    keys: RwLock<HashMap<[u8; 32], Principal>>,
    reservation_ttl_ms: i64,
}

impl LocalEnforcer {
    pub fn new(db: Db, ledgers: Arc<Ledgers>, writer: UsageWriter, reservation_ttl_ms: i64) -> Self {
        Self { db, ledgers, writer, keys: RwLock::default(), reservation_ttl_ms }
    }

    pub async fn authenticate(&self, key: &str) -> Result<Option<Principal>, AppError> {
        let digest = keys::digest(key);
        if let Some(p) = self.keys.read().ok().and_then(|k| k.get(&digest).cloned()) {
            return Ok(Some(p));
        }
        let found = crate::agents::store::find_by_key_hash(&self.db.pool, &hex::encode(digest)).await?;
        if let (Some(p), Ok(mut cache)) = (&found, self.keys.write()) {
            cache.insert(digest, p.clone());
        }
        Ok(found)
    }

    pub fn agent_revoked(&self, agent_id: i64) {
        if let Ok(mut cache) = self.keys.write() {
            cache.retain(|_, p| p.agent_id != agent_id);
        }
    }

    /// Forgets every cached key, so changes made by another process (the CLI) are seen.
    pub fn forget_keys(&self) {
        if let Ok(mut cache) = self.keys.write() {
            cache.clear();
        }
    }

    pub async fn ledger(&self, tenant_id: &str, now: i64) -> Result<SharedLedger, AppError> {
        match self.ledgers.get(tenant_id) {
            Some(ledger) => Ok(ledger),
            None => self
                .writer
                .load_tenant(tenant_id, now)
                .await?
                .ok_or_else(|| AppError::unauthorized("Invalid or revoked API key")),
        }
    }

    pub async fn check(&self, p: &Principal, estimated_tokens: u64, now: i64) -> Result<CheckOutcome, AppError> {
        let ledger = self.ledger(&p.tenant_id, now).await?;
        let reservation_id = super::new_reservation_number();
        let admission: Admission = ledger.lock().map_err(|_| AppError::internal())?.admit(
            now,
            estimated_tokens,
            reservation_id,
            now + self.reservation_ttl_ms,
        );
        Ok(CheckOutcome {
            allowed: admission.allowed,
            tenant_id: p.tenant_id.clone(),
            used_tokens: admission.used_tokens,
            reserved_tokens: admission.reserved_tokens,
            token_limit: admission.token_limit,
            period: admission.period,
            reservation: admission.reservation.map(|(id, expires_at)| (super::reservation_text(id), expires_at)),
            now,
        })
    }

    pub async fn settings(&self, tenant_id: &str, now: i64) -> Result<TenantSettings, AppError> {
        let ledger = self.ledger(tenant_id, now).await?;
        let settings = ledger.lock().map_err(|_| AppError::internal())?.settings();
        Ok(settings)
    }

    pub fn reserved_tokens(&self, tenant_id: &str) -> u64 {
        self.ledgers.get(tenant_id).and_then(|l| l.lock().ok().map(|l| l.reserved_tokens())).unwrap_or(0)
    }
}
